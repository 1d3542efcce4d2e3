// Fuzzes RequestParser against rules any strict HTTP/1.1 parser keeps, not
// against what this one happens to accept today.  A broken rule aborts with
// "goro: ..." and libFuzzer saves the input.
//
//  1. One framing (RFC 9112 §6).  A request the parser hands out has not both
//     Content-Length and Transfer-Encoding; with Transfer-Encoding, chunked
//     is the final coding and appears once; a Content-Length is one decimal
//     value (a repeat of the same value is allowed, RFC 9110 §8.6); and the
//     body agrees with the framing: Content-Length bytes, exactly what the
//     chunked encoding in the request's own bytes decodes to (decoded here,
//     independently of llhttp), or nothing without either.  An HTTP/1.1
//     request has exactly one Host (RFC 9112 §3.2), and an HTTP/1.0 one with
//     Transfer-Encoding does not keep the connection (§6.1).
//  2. Split input agrees.  The input fed whole, byte by byte, and in two
//     pieces split where the fuzzer chooses gives the same requests (method,
//     target, version, headers, body, keep-alive, expect) and the same error
//     status after the same number of requests.
//
// Input: two bytes choose the split point; the rest is what a client sent.
//
//   build-fuzz/tests/fuzz/fuzz_parser -max_total_time=60 tests/fuzz/corpus/parser
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "goro/http/parser.hpp"

using goro::http::Header;
using goro::http::iequals;
using goro::http::ParserLimits;
using goro::http::Request;
using goro::http::RequestParser;

namespace {

constexpr ParserLimits kLimits{.max_header_bytes = 2048, .max_body_bytes = 4096};

std::string_view g_input;  // the input being checked, for the report

// `s` with bytes outside printable ASCII as \xNN, for reports.
std::string shown(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

[[noreturn]] void violated(const char* fmt, ...) {
  std::fprintf(stderr, "goro: parser rule broken: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\ninput (%zu bytes): %s\n", g_input.size(), shown(g_input).c_str());
  std::abort();
}

struct Parsed {
  Request req;
  size_t begin = 0, end = 0;  // the bytes it spanned in the input (whole feed only)
};

struct Outcome {
  std::vector<Parsed> requests;
  int error = 0;  // status of the error after requests.size() requests; 0: none
};

bool same_request(const Request& a, const Request& b) {
  if (a.method != b.method || a.target != b.target || a.version_major != b.version_major ||
      a.version_minor != b.version_minor || a.body != b.body || a.keep_alive != b.keep_alive ||
      a.expect_continue != b.expect_continue || a.headers.size() != b.headers.size())
    return false;
  for (size_t i = 0; i < a.headers.size(); ++i)
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) return false;
  return true;
}

Outcome run(const std::vector<std::string_view>& pieces) {
  RequestParser p(kLimits);
  Outcome out;
  size_t offset = 0, begin = 0;  // bytes consumed so far; where the current request began
  for (std::string_view rest : pieces) {
    int stalled = 0;  // events in a row that consumed nothing
    while (!rest.empty() && !out.error) {
      auto step = p.feed(rest);
      if (step.consumed > rest.size()) violated("consumed %zu of %zu bytes", step.consumed, rest.size());
      rest.remove_prefix(step.consumed);
      offset += step.consumed;
      stalled = step.consumed ? 0 : stalled + 1;
      if (step.event == RequestParser::Event::request) {
        out.requests.push_back({p.take(), begin, offset});
        begin = offset;
      } else if (step.event == RequestParser::Event::error) {
        out.error = p.error_status();
        if (out.error < 400 || out.error > 599) violated("error event with status %d", out.error);
      } else if (step.event == RequestParser::Event::need_more && !rest.empty()) {
        violated("need_more with %zu bytes unconsumed", rest.size());
      }
      if (stalled > 2) violated("no progress: %d events consumed nothing", stalled);
    }
  }
  return out;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The elements of every `name` field line, in order: RFC 9110 §5.6.1 lists,
// empty elements dropped (a recipient must tolerate them).  `present` says
// whether any such line was there at all.
std::vector<std::string_view> list_elements(const Request& r, std::string_view name, bool& present) {
  std::vector<std::string_view> out;
  present = false;
  for (const Header& h : r.headers) {
    if (!iequals(h.name, name)) continue;
    present = true;
    std::string_view rest = h.value;
    for (;;) {
      size_t comma = rest.find(',');
      if (auto e = trim_ows(rest.substr(0, comma)); !e.empty()) out.push_back(e);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

// One line of `s` from `i`, ended by LF (a CR before it ignored, RFC 9112
// §2.2) or by the end of `s`.  Advances `i` past the LF.
std::string_view next_line(std::string_view s, size_t& i) {
  size_t lf = s.find('\n', i);
  size_t stop = lf == std::string_view::npos ? s.size() : lf;
  std::string_view line = s.substr(i, stop - i);
  i = lf == std::string_view::npos ? s.size() : lf + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// The bytes after the header block of the request that `raw` spans: leading
// empty lines (RFC 9112 §2.2) and the request line are skipped, field lines
// run to the first empty line.
std::string_view after_headers(std::string_view raw) {
  size_t i = 0;
  while (i < raw.size() && (raw[i] == '\r' || raw[i] == '\n')) ++i;
  next_line(raw, i);  // request line
  while (i < raw.size() && !next_line(raw, i).empty()) {
  }
  return raw.substr(i);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

// Decodes a chunked body (RFC 9112 §7.1) that must fill `s` exactly: chunk
// sizes in hex, optional extensions after BWS ";", data, CRLF, a last chunk
// of 0, trailer lines, an empty line.  False if `s` is not that.
bool dechunk(std::string_view s, std::string& body) {
  size_t i = 0;
  for (;;) {
    if (i >= s.size()) return false;
    std::string_view line = next_line(s, i);
    size_t j = 0;
    uint64_t size = 0;
    for (int h; j < line.size() && (h = hex_value(line[j])) >= 0; ++j) {
      if (size >> 56) return false;  // absurd: more than the input could hold
      size = size * 16 + static_cast<uint64_t>(h);
    }
    if (j == 0) return false;
    std::string_view ext = trim_ows(line.substr(j));
    if (!ext.empty() && ext[0] != ';') return false;
    if (size == 0) break;
    if (size > s.size() - i) return false;
    body.append(s.substr(i, size));
    i += size;
    if (i < s.size() && s[i] == '\r') ++i;
    if (i >= s.size() || s[i] != '\n') return false;
    ++i;
  }
  for (;;) {  // trailer section, then the empty line that ends the message
    if (i >= s.size()) return false;
    if (next_line(s, i).empty()) return i == s.size();
  }
}

// Rule 1 for one request the parser handed out; `raw` is the bytes it spanned.
void check_framing(const Request& r, std::string_view raw, size_t index) {
  size_t hosts = 0;
  for (const Header& h : r.headers) hosts += iequals(h.name, "Host");
  if (r.version_major == 1 && r.version_minor == 1 && hosts != 1)
    violated("request %zu: HTTP/1.1 accepted with %zu Host fields", index, hosts);

  bool te = false, cl = false;
  auto codings = list_elements(r, "Transfer-Encoding", te);
  auto lengths = list_elements(r, "Content-Length", cl);
  if (te && cl) violated("request %zu: accepted with both Transfer-Encoding and Content-Length", index);

  std::string_view content = after_headers(raw);
  if (te) {
    size_t chunked = 0;
    for (auto c : codings) chunked += iequals(c, "chunked");
    if (codings.empty() || !iequals(codings.back(), "chunked"))
      violated("request %zu: accepted with Transfer-Encoding whose final coding is not chunked", index);
    if (chunked != 1) violated("request %zu: accepted with chunked applied %zu times", index, chunked);
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
    // framing; the connection closes after it.
    if (r.version_minor == 0 && r.keep_alive)
      violated("request %zu: HTTP/1.0 with Transfer-Encoding keeps the connection", index);
    std::string decoded;
    if (!dechunk(content, decoded))
      violated("request %zu: the bytes after its header block are not one whole chunked body: `%s` (body `%s`)",
               index, shown(content).c_str(), shown(r.body).c_str());
    if (decoded != r.body)
      violated("request %zu: body `%s`, but its chunks hold `%s`", index, shown(r.body).c_str(),
               shown(decoded).c_str());
  } else if (cl) {
    if (lengths.empty()) violated("request %zu: accepted with an empty Content-Length", index);
    uint64_t value = 0;
    for (size_t k = 0; k < lengths.size(); ++k) {
      uint64_t v = 0;
      for (char c : lengths[k]) {
        if (c < '0' || c > '9') violated("request %zu: accepted Content-Length `%.*s`", index,
                                          static_cast<int>(lengths[k].size()), lengths[k].data());
        if (v > (UINT64_MAX - 9) / 10) violated("request %zu: accepted a Content-Length that overflows", index);
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      if (k > 0 && v != value) violated("request %zu: accepted two different Content-Lengths", index);
      value = v;
    }
    if (r.body.size() != value || content.size() != value)
      violated("request %zu: Content-Length %llu, body %zu bytes (%s), %zu bytes after the header block (%s)",
               index, static_cast<unsigned long long>(value), r.body.size(), shown(r.body).c_str(), content.size(),
               shown(content).c_str());
  } else if (!r.body.empty() || !content.empty()) {
    violated("request %zu: no framing, yet body `%s`, `%s` after the header block", index, shown(r.body).c_str(),
             shown(content).c_str());
  }
}

void check_same(const Outcome& a, const Outcome& b, const char* how) {
  size_t n = std::min(a.requests.size(), b.requests.size());
  for (size_t i = 0; i < n; ++i)
    if (!same_request(a.requests[i].req, b.requests[i].req)) violated("%s: request %zu differs from whole", how, i);
  if (a.requests.size() != b.requests.size() || a.error != b.error)
    violated("%s: %zu requests then error %d, whole: %zu then error %d", how, b.requests.size(), b.error,
             a.requests.size(), a.error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  g_input = input;
  size_t at = (data[0] | size_t{data[1]} << 8) % (input.size() + 1);

  Outcome whole = run({input});
  for (size_t i = 0; i < whole.requests.size(); ++i) {
    const Parsed& p = whole.requests[i];
    check_framing(p.req, input.substr(p.begin, p.end - p.begin), i);
  }

  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  check_same(whole, run(bytes), "byte by byte");
  check_same(whole, run({input.substr(0, at), input.substr(at)}), "split");
  return 0;
}
