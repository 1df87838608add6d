// Status and Result<T>: how every fallible core call reports its outcome.
//
// A Status is a cheap value: a code from a short list plus a human-readable
// message that says what went wrong and, where it helps, what to do about it.
// Result<T> holds either a T or a non-OK Status and is shaped like
// std::expected (has_value(), value(), error()). No exception leaves the core.
//
// Thread safety: both are plain values; distinct objects may be used from
// distinct threads without synchronisation.
#ifndef TIANYE_STATUS_H_
#define TIANYE_STATUS_H_

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tianye {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller passed something malformed
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // creating something that is already there
  kFailedPrecondition,  // the system is not in a state where this can run
  kConflict,            // a concurrent change got there first
  kUnauthenticated,     // wrong passphrase, password or token
  kPermissionDenied,    // authenticated, but not allowed
  kResourceExhausted,   // a size or rate limit was hit
  kCorruption,          // stored data is damaged or not ours
  kIOError,             // the operating system refused a read or write
  kUnimplemented,       // asked for a feature this build does not have
  kInternal,            // a bug: an invariant of ours does not hold
};

// Returns the code's stable name, e.g. "NotFound". Never null.
const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK", or "<CodeName>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Holds a T on success or a non-OK Status on failure.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result<T> needs a value or an error, not OK");
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result built from an OK status");
  }

  bool has_value() const { return v_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  // Precondition: has_value().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error, or OK when a value is held.
  Status error() const { return has_value() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tianye

// Evaluates `expr` (a Status) and returns it from the enclosing function if not OK.
#define TIANYE_RETURN_IF_ERROR(expr)                  \
  do {                                                \
    ::tianye::Status tianye_status_ = (expr);         \
    if (!tianye_status_.ok()) return tianye_status_;  \
  } while (false)

#define TIANYE_CONCAT_INNER_(a, b) a##b
#define TIANYE_CONCAT_(a, b) TIANYE_CONCAT_INNER_(a, b)

// `TIANYE_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result's value
// or returns the Result's error from the enclosing function.
#define TIANYE_ASSIGN_OR_RETURN(lhs, expr) \
  TIANYE_ASSIGN_OR_RETURN_IMPL_(TIANYE_CONCAT_(tianye_result_, __LINE__), lhs, expr)
#define TIANYE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.has_value()) return tmp.error();           \
  lhs = std::move(tmp).value()

#endif  // TIANYE_STATUS_H_
