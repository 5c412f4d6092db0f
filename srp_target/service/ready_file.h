// ReadyFile: the target's liveness mark for health checks that cannot read
// its log (a container's HEALTHCHECK runs beside it, not on its stdout).
// Contract: the constructor creates PATH (holding the process id) or throws
// std::system_error naming the path; touch() sets its modification time to
// now and returns false (no throw) when that fails; the destructor removes
// the file. Owned and used by the main loop thread only.
#pragma once

#include <string>

namespace srp::target {

class ReadyFile {
  public:
    explicit ReadyFile(std::string path);
    ~ReadyFile();
    ReadyFile(const ReadyFile&) = delete;
    ReadyFile& operator=(const ReadyFile&) = delete;

    [[nodiscard]] bool touch() const noexcept;
    const std::string& path() const noexcept { return path_; }

  private:
    std::string path_;
};

}  // namespace srp::target
