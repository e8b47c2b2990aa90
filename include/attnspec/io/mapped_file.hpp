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

#include "io_errors.hpp"

namespace attnspec::io {

class MappedFile {
 public:
  MappedFile() = default;

  explicit MappedFile(const std::string& path) : m_path(path) {
    const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) detail::throw_io_error(path, "cannot open: ", std::strerror(errno));
    struct stat status {};
    if (::fstat(descriptor, &status) != 0 || !S_ISREG(status.st_mode)) {
      ::close(descriptor);
      detail::throw_io_error(path, "not a regular file");
    }
    m_size = static_cast<std::size_t>(status.st_size);
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
