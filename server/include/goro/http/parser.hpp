// goro/http/parser.hpp — the one place goro talks to llhttp.
//
// llhttp's contracts, kept visible here:
//  * callbacks return 0 to go on, -1 (or HPE_USER) to fail, HPE_PAUSED to stop
//    llhttp_execute() right after the current callback;
//  * an error other than a pause is sticky: every later llhttp_execute()
//    returns it again until llhttp_init() — so after Event::error the
//    connection answers once and closes; reset() re-inits for reuse;
//  * after HPE_PAUSED, llhttp_get_error_pos() is where parsing stopped and
//    llhttp_resume() must be called before executing again.
//
// RequestParser pauses after every complete request, so a pipelined batch is
// handed out one request at a time, in order, and the caller may answer each
// before parsing the next.  It also pauses when the headers of a request with
// "Expect: 100-continue" are complete, before reading its body.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <string_view>

#include "goro/http/request.hpp"

namespace goro::http {

struct ParserLimits {
  size_t max_header_bytes = 16 * 1024;  // request line + header block
  size_t max_body_bytes = 1024 * 1024;
};

class RequestParser {
 public:
  enum class Event {
    need_more,        // all bytes consumed; feed more
    request,          // a whole request is ready: take() it
    expect_continue,  // headers done, client waits for "100 Continue"
    error,            // malformed or over a limit: error_status()
  };
  struct Step {
    Event event;
    size_t consumed;  // bytes of the input used; feed the rest next
  };

  explicit RequestParser(ParserLimits limits = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses from the start of `data` (the first byte not yet consumed).
  Step feed(std::string_view data);

  // The request after Event::request (also valid, without a body, after
  // Event::expect_continue).  take() moves it out.
  const Request& request() const { return req_; }
  Request take();

  // True once any byte of the current request has been seen and until it
  // completes: the connection is mid-request (header timeout applies).
  bool in_message() const { return in_message_; }
  bool headers_done() const { return headers_done_; }

  // HTTP status for the last Event::error (400, 413, 431, 501, 505) and a
  // short reason for logs and the response body.
  int error_status() const { return error_status_; }
  std::string_view error_reason() const { return error_reason_; }

  // Forgets everything, including a sticky error.
  void reset();

 private:
  static int on_message_begin(llhttp_t*);
  static int on_url(llhttp_t*, const char*, size_t);
  static int on_header_field(llhttp_t*, const char*, size_t);
  static int on_header_field_complete(llhttp_t*);
  static int on_header_value(llhttp_t*, const char*, size_t);
  static int on_header_value_complete(llhttp_t*);
  static int on_headers_complete(llhttp_t*);
  static int on_body(llhttp_t*, const char*, size_t);
  static int on_message_complete(llhttp_t*);

  int fail(int status, const char* reason);
  bool count_header_bytes(size_t n);

  static const llhttp_settings_t settings_;
  llhttp_t p_;
  ParserLimits limits_;
  Request req_;
  size_t header_bytes_ = 0;
  bool in_message_ = false;
  bool headers_done_ = false;
  bool complete_ = false;
  // Where the header block is: a name's bytes arrive (in_name_), then its
  // value's (in_value_); llhttp may split either across calls.
  bool in_name_ = false;
  bool in_value_ = false;
  int error_status_ = 0;
  const char* error_reason_ = "";
};

}  // namespace goro::http
