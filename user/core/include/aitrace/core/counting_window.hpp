// The run's window (docs/architecture.md, "One window"): one mmap-able BPF array of one u32 that
// every BPF object of a run takes as its `.data.window` map (bpf/common/programs.bpf.h), so a
// single store opens or closes counting in all of them at once. With one hold per object, the
// stores came one after another, and a driver thread preempted between them (a busy host) let
// one collector count 0.1-0.4 ms longer than another.
#pragma once

#include "aitrace/core/result.hpp"

#include <cstdint>

struct bpf_object;

namespace aitrace {

class CountingWindow {
 public:
  // A window that holds every program until release().
  static Result<CountingWindow> create();
  CountingWindow(CountingWindow&& o) noexcept;
  CountingWindow& operator=(CountingWindow&& o) noexcept;
  CountingWindow(const CountingWindow&) = delete;
  CountingWindow& operator=(const CountingWindow&) = delete;
  ~CountingWindow();

  // Not on a moved-from window.
  void release();  // every object that shares the window counts from here on
  void hold();     // ... and none after this
  bool held() const;

  // Makes `obj` (opened, not loaded) use this window for its `.data.window` map.
  Status share_with(bpf_object* obj, const char* what) const;
  // After the load: points the skeleton's view of that map (skel->data_window) at the window.
  Status map_into(bpf_object* obj, const char* what) const;

 private:
  CountingWindow() = default;
  void reset();
  int fd_ = -1;
  uint32_t* held_ = nullptr;  // the map's value, mapped into this process
};

}  // namespace aitrace
