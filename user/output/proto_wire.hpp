// Protobuf wire format, written by hand for the trace's hot packets (the compact sched bundle and
// counter packets): appending varints to a string costs no allocation per event, where building
// a generated message and serializing it did one or more per field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace aitrace::wire {

enum Type : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2 };

inline void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
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

}  // namespace aitrace::wire
