// Fuzzes RequestParser and checks a property, not just "no crash": feeding
// the same bytes whole or split at fuzzer-chosen points yields the same
// requests, and an error in both or in neither.  (Which status an invalid
// input gets may differ: llhttp reports a span to its callbacks at a chunk
// boundary, so the header-size limit can trip before a bad byte further on
// is seen — 431 split, 400 whole.  Found by this fuzzer.)
//
//   build-fuzz/tests/fuzz/fuzz_parser -max_total_time=60 tests/fuzz/corpus/parser
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "goro/http/parser.hpp"

using goro::http::ParserLimits;
using goro::http::RequestParser;

namespace {

struct Result {
  std::vector<std::string> requests;  // method, target, body, flags joined
  int error = 0;
};

Result run(const std::vector<std::string_view>& pieces) {
  RequestParser p(ParserLimits{.max_header_bytes = 2048, .max_body_bytes = 4096});
  Result out;
  for (std::string_view rest : pieces) {
    while (!rest.empty() && !out.error) {
      auto step = p.feed(rest);
      if (step.consumed > rest.size()) {
        std::fprintf(stderr, "goro: parser consumed %zu of %zu bytes\n", step.consumed, rest.size());
        std::abort();
      }
      rest.remove_prefix(step.consumed);
      if (step.event == RequestParser::Event::request) {
        auto r = p.take();
        std::string flat = r.method + ' ' + r.target + ' ' + r.body + (r.keep_alive ? " k" : " c");
        for (auto& h : r.headers) flat += '|' + h.name + ':' + h.value;
        out.requests.push_back(std::move(flat));
      } else if (step.event == RequestParser::Event::error) {
        out.error = p.error_status();
      } else if (step.event == RequestParser::Event::need_more && step.consumed == 0 && !rest.empty()) {
        std::fprintf(stderr, "goro: parser made no progress\n");
        std::abort();
      }
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte chooses a split stride; the rest is the connection's input.
  size_t stride = data[0] + 1;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  Result whole = run({input});
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < input.size(); i += stride) pieces.push_back(input.substr(i, stride));
  Result split = run(pieces);
  if (whole.requests != split.requests || (whole.error == 0) != (split.error == 0)) {
    std::fprintf(stderr, "goro: split input parsed differently (%zu vs %zu requests, error %d vs %d)\n",
                 whole.requests.size(), split.requests.size(), whole.error, split.error);
    std::abort();
  }
  return 0;
}
