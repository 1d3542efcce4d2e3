/// \file
/// The one place goro talks to llhttp.
///
/// llhttp's contracts, kept visible here:
/// - callbacks return 0 to go on, -1 (or HPE_USER) to fail, HPE_PAUSED to stop
///   llhttp_execute() right after the current callback;
/// - an error other than a pause is sticky: every later llhttp_execute()
///   returns it again until llhttp_init() — so after Event::error the
///   connection answers once and closes; reset() re-inits for reuse;
/// - after HPE_PAUSED, llhttp_get_error_pos() is where parsing stopped and
///   llhttp_resume() must be called before executing again.
///
/// RequestParser pauses after every complete request, so a pipelined batch is
/// handed out one request at a time, in order, and the caller may answer each
/// before parsing the next.  It also pauses when the headers of a request with
/// "Expect: 100-continue" are complete, before reading its body.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "goro/http/request.hpp"

namespace goro::http {

/// The strict RFC 9112 grammar, checked over exactly the bytes llhttp
/// accepted, in order.  Debian builds llhttp without its strict mode, so it
/// lets through what a proxy in front may read differently (a bare CR ending a
/// line, obs-fold, spaces in the request line, a bare LF in chunk framing):
/// each is a way to smuggle a request.  This check sees the same bytes and the
/// framing llhttp chose (set_framing() at the end of the head), so it knows
/// where each message ends without parsing anything twice.
class WireCheck {
 public:
  /// How a message's body is delimited, as llhttp decided from its head:
  /// no body, Content-Length, chunked, or `opaque` (an upgrade: the rest of
  /// the stream is not HTTP and is not checked).
  enum class Framing : uint8_t { none, length, chunked, opaque };
  /// Scans the next bytes of the stream; nullptr, or why they are not HTTP/1.1
  /// (sticky: once wrong, always wrong).
  const char* scan(std::string_view data);
  /// Called when llhttp has read a head: how its body is framed.
  void set_framing(Framing f, uint64_t length = 0) {
    framing_ = f;
    length_ = length;
  }
  /// Between messages: the last byte scanned ended one (or none began).
  bool at_message_start() const;
  /// The request line and header section (and a trailer section) may hold at
  /// most this many bytes, counted exactly as sent: over it, 414 while in the
  /// request-target, else 431.  Counted here rather than in llhttp's
  /// callbacks so that where the limit trips does not depend on how the
  /// input was split into reads.
  void set_head_limit(size_t bytes) { max_head_ = bytes; }
  /// The status that goes with scan()'s reason: 400, or 414/431 for a limit.
  int status() const { return status_; }
  /// After llhttp refused a method it does not know: scans on until the
  /// method token ends.  Returns how many bytes of `rest` it used; then
  /// in_method() is false once the token ended with its SP (a well-formed
  /// method, 501), and scan's reason is set if it ended otherwise (400).
  size_t scan_method(std::string_view rest);
  /// True while the scan is still in a request's method token (or before it).
  bool in_method() const { return s_ == S::start || s_ == S::start_lf || s_ == S::method; }
  /// Why the bytes are not HTTP/1.1 (what scan() returned), or nullptr.
  const char* why() const { return why_; }

 private:
  enum class S : uint8_t {
    start, start_lf, method, target_first, target, version, line_lf,
    field_start, name, value, value_lf, head_lf,
    body, chunk_size_first, chunk_size, chunk_bws, chunk_ext, chunk_lf, chunk_data, chunk_data_cr, chunk_data_lf,
    opaque, bad,
  };
  S s_ = S::start;
  Framing framing_ = Framing::none;
  bool trailers_ = false;     // the field lines are a trailer section
  uint8_t version_at_ = 0;    // next byte of "HTTP/d.d" expected
  uint64_t length_ = 0;       // body bytes left, or the chunk size being read / left
  static constexpr uint32_t kMaxChunkLine = 4096;
  static constexpr uint64_t kChunkOverheadSlack = 16 * 1024;
  uint32_t line_bytes_ = 0;   // of the chunk line being read
  uint64_t overhead_ = 0;     // chunk-line bytes of this message
  uint64_t data_ = 0;         // chunk-data bytes of this message
  size_t max_head_ = SIZE_MAX;
  size_t head_bytes_ = 0;     // of this message's request line, header and trailer sections
  const char* why_ = nullptr;
  int status_ = 400;

  void end_message() {
    s_ = S::start;
    head_bytes_ = 0;
  }
};

/// How big a request may be (`--max-header-bytes`, `--max-body-bytes`).
struct ParserLimits {
  size_t max_header_bytes = 16 * 1024;  ///< request line + header block
  size_t max_body_bytes = 1024 * 1024;  ///< the body, after de-chunking
};

/// An HTTP/1.1 request parser for one connection: llhttp plus WireCheck,
/// handing out one request at a time (see parser.hpp).
class RequestParser {
 public:
  /// What feed() stopped at.
  enum class Event {
    need_more,        ///< all bytes consumed; feed more
    request,          ///< a whole request is ready: take() it
    expect_continue,  ///< headers done, client waits for "100 Continue"
    error,            ///< malformed or over a limit: error_status()
  };
  /// feed()'s result: what happened, and how much input it took.
  struct Step {
    Event event;      ///< what the parser stopped at
    size_t consumed;  ///< bytes of the input used; feed the rest next
  };

  /// A parser at the start of a connection, enforcing `limits`.
  explicit RequestParser(ParserLimits limits = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  /// Parses from the start of `data` (the first byte not yet consumed).
  Step feed(std::string_view data);

  /// The request after Event::request (also valid, without a body, after
  /// Event::expect_continue).  take() moves it out.
  const Request& request() const { return req_; }
  /// Moves the request out (after Event::request).
  Request take();
  /// Gives a request's storage back once it has been answered, for a later
  /// request on this thread to reuse (no allocation per request).
  static void recycle(Request& served);

  /// True once any byte of the current request has been seen and until it
  /// completes: the connection is mid-request (header timeout applies).
  bool in_message() const { return in_message_; }
  /// True once the current request's header section is complete (its body,
  /// or its trailers, may still be coming).
  bool headers_done() const { return headers_done_; }

  /// HTTP status for the last Event::error (400, 413, 414, 431, 501, 505).
  int error_status() const { return error_status_; }
  /// A short reason for the last Event::error, for logs and the response body.
  std::string_view error_reason() const { return error_reason_; }

  /// Forgets everything, including a sticky error.
  void reset();

 private:
  static int on_message_begin(llhttp_t*);
  static int on_url(llhttp_t*, const char*, size_t);
  static int on_header_field(llhttp_t*, const char*, size_t);
  static int on_header_field_complete(llhttp_t*);
  static int on_header_value(llhttp_t*, const char*, size_t);
  static int on_header_value_complete(llhttp_t*);
  static int on_headers_complete(llhttp_t*);
  static int on_chunk_header(llhttp_t*);
  static int on_body(llhttp_t*, const char*, size_t);
  static int on_message_complete(llhttp_t*);

  int fail(int status, const char* reason);
  // The rest of a method token llhttp refused: 501 or 400 once it ends.
  Step finish_unknown_method(std::string_view rest, size_t used_before);
  // The field line being read: a header, or a trailer (kept apart, RFC 9110 §6.5.1).
  Header& field() { return headers_done_ ? trailer_ : req_.headers.back(); }

  static const llhttp_settings_t settings_;
  llhttp_t p_;
  ParserLimits limits_;
  Request req_;
  WireCheck wire_;
  Header trailer_;  // the trailer field being read: checked, counted, then dropped
  bool unknown_method_ = false;  // llhttp refused the method; WireCheck reads the token to its end
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
