// Walking a BPF hash map from userspace, for the collectors' snapshots.
#pragma once

#include <bpf/bpf.h>

#include <vector>

namespace aitrace {

// fn(key, values) for every entry, by get_next_key. `values` holds one value, or one per possible
// CPU when `ncpu` > 1 (a per-CPU map). An entry deleted between the two calls is skipped; the
// collectors only add entries while tracing, so a walk never restarts over a deleted key.
template <typename K, typename V, typename Fn>
void for_each_map_values(int fd, int ncpu, Fn&& fn) {
  std::vector<V> values(ncpu > 1 ? ncpu : 1);
  K key{}, next{};
  const K* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, values.data()) == 0) fn(key, values);
  }
}

// fn(key) for every key of a map, without reading the values.
template <typename K, typename Fn>
void for_each_map_key(int fd, Fn&& fn) {
  K key{}, next{};
  K* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    fn(key);
  }
}

// fn(key, value) for every entry of a map with one value per key.
template <typename K, typename V, typename Fn>
void for_each_map_entry(int fd, Fn&& fn) {
  for_each_map_values<K, V>(fd, 1, [&](const K& k, const std::vector<V>& v) { fn(k, v[0]); });
}

}  // namespace aitrace
