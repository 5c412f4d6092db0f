#include "srp_target/service/ready_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace srp::target {

ReadyFile::ReadyFile(std::string path) : path_(std::move(path)) {
    // Written whole to a temporary name and renamed, so a health check never
    // sees a half-written file.
    const std::string tmp = path_ + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "ready file: open " + tmp);
    const std::string text = std::to_string(::getpid()) + "\n";
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const int write_errno = errno;
    ::close(fd);
    if (!written || ::rename(tmp.c_str(), path_.c_str()) != 0) {
        const int e = written ? errno : write_errno;
        ::unlink(tmp.c_str());
        throw std::system_error(e, std::generic_category(), "ready file: write " + path_);
    }
}

ReadyFile::~ReadyFile() {
    ::unlink(path_.c_str());
}

bool ReadyFile::touch() const noexcept {
    return ::utimensat(AT_FDCWD, path_.c_str(), nullptr, 0) == 0;
}

}  // namespace srp::target
