// Protobuf wire format, written by hand for the trace's hot packets (the compact sched bundle and
// counter packets): appending varints to a string costs no allocation per event, where building
// a generated message and serializing it did one or more per field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace aitrace::wire {

enum Type : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2 };

// Encodes into a local buffer and appends once: a push_back per byte was a quarter of the
// consumer's CPU time in a whole-system trace (perf record of `aitrace sched --trace`).
inline void varint(std::string& out, uint64_t v) {
  char b[10];
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  out.append(b, n);
}

inline void tag(std::string& out, uint32_t field, Type type) { varint(out, (uint64_t{field} << 3) | type); }

inline void varint_field(std::string& out, uint32_t field, uint64_t v) {
  tag(out, field, kVarint);
  varint(out, v);
}

// int32/int64 fields are varints of the two's complement (a negative value takes 10 bytes).
inline void int_field(std::string& out, uint32_t field, int64_t v) { varint_field(out, field, static_cast<uint64_t>(v)); }

inline void bytes_field(std::string& out, uint32_t field, std::string_view bytes) {
  tag(out, field, kBytes);
  varint(out, bytes.size());
  out.append(bytes);
}

// A packed repeated field from its already encoded elements; nothing when there are none.
inline void packed_field(std::string& out, uint32_t field, std::string_view elements) {
  if (!elements.empty()) bytes_field(out, field, elements);
}

// A message of bounded size encoded on the stack, for the packets written per event: no
// std::string growth checks per byte, one append of the whole at the end.
template <size_t N>
class Stack {
 public:
  void varint(uint64_t v) {
    while (v >= 0x80) {
      put(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    put(static_cast<char>(v));
  }
  void varint_field(uint32_t field, uint64_t v) {
    varint((uint64_t{field} << 3) | kVarint);
    varint(v);
  }
  void int_field(uint32_t field, int64_t v) { varint_field(field, static_cast<uint64_t>(v)); }
  void bytes_field(uint32_t field, std::string_view bytes) {
    varint((uint64_t{field} << 3) | kBytes);
    varint(bytes.size());
    for (char c : bytes) put(c);
  }
  std::string_view view() const { return {b_, n_}; }

 private:
  // Sized by the caller for its largest message; a bigger one would be a programming error, and
  // is cut rather than written past the buffer.
  void put(char c) {
    if (n_ < N) b_[n_++] = c;
  }
  char b_[N];
  size_t n_ = 0;
};

}  // namespace aitrace::wire
