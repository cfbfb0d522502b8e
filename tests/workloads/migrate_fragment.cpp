// Fragments memory and compacts it, so the kernel migrates pages for a known reason
// (compaction) in this very process, and reports /proc/vmstat's pgmigrate_success around it.
//
//   migrate_fragment [--mb N] [--no-compact] [--drop-caches-if-stuck]
// Prints "pgmigrate_success_before N" first and "pgmigrate_success_after N" last, read right
// before fragmenting and right after compaction returned; exit 0 on success.
//
// Where the kernel places the pages is not ours to choose: when they happen to lie where
// compaction's free scanner works, little moves. So a round (allocate N MiB, free every other
// page, compact) is repeated, keeping earlier rounds' memory, until pgmigrate_success grew
// (at most 5 rounds).
//
// Compaction of a whole zone stops at the first batch it cannot find free target pages for
// (a large page-cache folio without a free block of its order makes migrate_pages() fail with
// -ENOMEM, which compaction treats as "contended"), so a single large folio low in the zone
// blocks it until the folio goes away. With --drop-caches-if-stuck a round that moved nothing
// is followed by dropping the clean page cache (/proc/sys/vm/drop_caches = 1) before the next:
// that costs other processes re-reads from disk, never data.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

long long vmstat(const char* name) {
  std::ifstream f("/proc/vmstat");
  std::string key;
  long long value;
  while (f >> key >> value)
    if (key == name) return value;
  return -1;
}

bool write_proc(const char* path, const char* value) {
  FILE* f = std::fopen(path, "w");
  if (!f || std::fputs(value, f) < 0 || std::fclose(f) != 0) {
    std::perror(path);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mb = 128;
  bool compact = true, drop_caches = false;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--mb") && i + 1 < argc)
      mb = std::strtoul(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--no-compact"))
      compact = false;
    else if (!std::strcmp(argv[i], "--drop-caches-if-stuck"))
      drop_caches = true;
    else {
      std::fprintf(stderr, "usage: %s [--mb N] [--no-compact] [--drop-caches-if-stuck]\n", argv[0]);
      return 2;
    }
  }
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t len = mb << 20;
  const long long before = vmstat("pgmigrate_success");
  std::printf("pgmigrate_success_before %lld\n", before);
  std::fflush(stdout);
  std::vector<unsigned char*> rounds;
  for (int round = 0; round < 5; round++) {
    auto* mem =
        static_cast<unsigned char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (mem == MAP_FAILED) {
      std::perror("mmap");
      return 1;
    }
    rounds.push_back(mem);
    // Base pages only: every other page is freed below, which must leave holes, not split THPs.
    madvise(mem, len, MADV_NOHUGEPAGE);
    for (size_t off = 0; off < len; off += page) mem[off] = static_cast<unsigned char>(off >> 12);
    // Free every other page: the survivors pin half of each block in place until compaction
    // moves them together.
    for (size_t off = page; off < len; off += 2 * page) madvise(mem + off, page, MADV_DONTNEED);
    if (!compact) break;
    // Synchronous: compaction runs in this process (the sysctl write handler), so its
    // migrations are this process's.
    if (!write_proc("/proc/sys/vm/compact_memory", "1\n")) return 1;
    if (vmstat("pgmigrate_success") > before) break;
    if (drop_caches && !write_proc("/proc/sys/vm/drop_caches", "1\n")) return 1;
  }
  std::printf("pgmigrate_success_after %lld\n", vmstat("pgmigrate_success"));
  std::fflush(stdout);
  // Survivors must still hold their values after they moved.
  for (unsigned char* mem : rounds) {
    for (size_t off = 0; off < len; off += 2 * page)
      if (mem[off] != static_cast<unsigned char>(off >> 12)) {
        std::fprintf(stderr, "page at offset %zu lost its content\n", off);
        return 1;
      }
    munmap(mem, len);
  }
  return 0;
}
