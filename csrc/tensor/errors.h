#pragma once
// The exception types the core throws; the Python module maps each to the Python
// exception of the same name. Messages name the op, the shapes and the dtypes.
#include <sstream>
#include <stdexcept>
#include <string>

namespace tg {

struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
struct RuntimeError : std::runtime_error { using std::runtime_error::runtime_error; };

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

#define TG_CHECK(cond, ExcType, ...) \
  do { if (!(cond)) throw ::tg::ExcType(::tg::str_cat(__VA_ARGS__)); } while (0)

}  // namespace tg
