// attnspec: a read-only memory map of a whole file (POSIX), so multi-gigabyte checkpoints are read in place and
// only the pages of the heads being analysed are ever touched.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "io_errors.hpp"

namespace attnspec::io {

namespace detail {

/// Opens `path` for reading without blocking (a named pipe or a device must not stall the reader) and checks that
/// it is a regular file; returns the descriptor, which the caller closes, and the file's size.
inline std::pair<int, std::size_t> open_regular_file(const std::string& path) {
  const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (descriptor < 0) throw_io_error(path, "cannot open: ", std::strerror(errno));
  struct stat status {};
  if (::fstat(descriptor, &status) != 0) {
    const int error = errno;
    ::close(descriptor);
    throw_io_error(path, "cannot stat: ", std::strerror(error));
  }
  if (!S_ISREG(status.st_mode)) {
    ::close(descriptor);
    const char* kind = S_ISDIR(status.st_mode)    ? "a directory"
                       : S_ISFIFO(status.st_mode) ? "a named pipe"
                       : S_ISCHR(status.st_mode)  ? "a character device"
                       : S_ISBLK(status.st_mode)  ? "a block device"
                       : S_ISSOCK(status.st_mode) ? "a socket"
                                                  : "a special file";
    throw_io_error(path, "is ", kind, ", not a regular file");
  }
  return {descriptor, static_cast<std::size_t>(status.st_size)};
}

/// The whole of the regular file `path`, which may hold at most `limit` bytes (a larger one is an error naming
/// both sizes, so no file can make a reader exhaust memory).
inline std::vector<unsigned char> read_whole_file(const std::string& path, std::size_t limit) {
  const auto [descriptor, size] = open_regular_file(path);
  if (size > limit) {
    ::close(descriptor);
    throw_io_error(path, "is ", size, " bytes, more than the ", limit, " this reader accepts");
  }
  std::vector<unsigned char> bytes(size);
  std::size_t done = 0;
  while (done < size) {
    const ::ssize_t got = ::read(descriptor, bytes.data() + done, size - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(descriptor);
      throw_io_error(path, "read error at byte ", done, ": ", std::strerror(error));
    }
    if (got == 0) break;  // the file shrank while being read: what is there is all there is
    done += static_cast<std::size_t>(got);
  }
  ::close(descriptor);
  bytes.resize(done);
  return bytes;
}

}  // namespace detail

class MappedFile {
 public:
  MappedFile() = default;

  explicit MappedFile(const std::string& path) : m_path(path) {
    const auto [descriptor, size] = detail::open_regular_file(path);
    m_size = size;
    if (m_size > 0) {
      void* address = ::mmap(nullptr, m_size, PROT_READ, MAP_PRIVATE, descriptor, 0);
      if (address == MAP_FAILED) {
        const int error = errno;
        ::close(descriptor);
        detail::throw_io_error(path, "cannot map ", m_size, " bytes: ", std::strerror(error));
      }
      m_data = static_cast<const unsigned char*>(address);
    }
    ::close(descriptor);
  }

  MappedFile(MappedFile&& other) noexcept { swap(other); }
  MappedFile& operator=(MappedFile&& other) noexcept {
    MappedFile moved(std::move(other));
    swap(moved);
    return *this;
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (m_data != nullptr) ::munmap(const_cast<unsigned char*>(m_data), m_size);
  }

  const unsigned char* data() const { return m_data; }
  std::size_t size() const { return m_size; }
  const std::string& path() const { return m_path; }

 private:
  void swap(MappedFile& other) noexcept {
    std::swap(m_data, other.m_data);
    std::swap(m_size, other.m_size);
    std::swap(m_path, other.m_path);
  }

  const unsigned char* m_data = nullptr;
  std::size_t m_size = 0;
  std::string m_path;
};

}  // namespace attnspec::io
