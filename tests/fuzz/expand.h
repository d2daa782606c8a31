// Input templates shared by the fuzz targets, so that a short input can stand for a huge one.
//
// Mutating a few bytes rarely grows an input into 16 KB of `1+1+1...` or 40 KB of one template
// field, yet those are exactly the inputs that exhaust a stack or take quadratic time. So an input
// with two NUL bytes is a template:  HEAD \0 BODY \0 TAIL  stands for HEAD, then BODY repeated as
// often as fits in `target` bytes, then TAIL (which is kept as is, NULs included). An input
// without two NULs is used as it is. (NUL is not valid in an expression or in YAML, so no input of
// interest is lost.) Example: "1\0+1\0" is "1+1+1+...+1", 16 KiB long, for fuzz_expression.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ennakko::fuzz {

inline std::string Expand(const uint8_t* data, size_t size, size_t target) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t a = in.find('\0');
  if (a == std::string::npos) return in;
  size_t b = in.find('\0', a + 1);
  if (b == std::string::npos) return in;
  std::string out = in.substr(0, a);
  std::string body = in.substr(a + 1, b - a - 1);
  std::string tail = in.substr(b + 1);
  if (!body.empty() && out.size() + tail.size() < target) {
    size_t times = (target - out.size() - tail.size()) / body.size();
    out.reserve(out.size() + times * body.size() + tail.size());
    for (size_t i = 0; i < times; ++i) out += body;
  }
  return out + tail;
}

}  // namespace ennakko::fuzz
