// Backend constructors (internal).  Each returns nullptr, with the reason in
// *detail, when the kernel refuses; on success *detail says what was set up.
#pragma once

#include <memory>
#include <string>

#include "goro/net/poller.hpp"

namespace goro::net::detail {

std::unique_ptr<goro::Poller> make_uring_poller(std::string* detail);
std::unique_ptr<goro::Poller> make_epoll_poller(std::string* detail);

}  // namespace goro::net::detail
