#include "srp_target/scsi/scsi_task.h"

namespace srp::target {

void ScsiTask::complete_good() noexcept {
    phase_ = Phase::complete;
    status_ = scsi::Status::good;
    has_sense_ = false;
    range_lock_.release();
}

void ScsiTask::complete_check(const scsi::SenseBuilder& sense) noexcept {
    phase_ = Phase::complete;
    status_ = scsi::Status::check_condition;
    sense_ = sense.build();
    has_sense_ = true;
    data_in_ = {};  // SAM-5 5.3: no data is returned with CHECK CONDITION here
    range_lock_.release();
}

void ScsiTask::complete_status(scsi::Status status) noexcept {
    phase_ = Phase::complete;
    status_ = status;
    has_sense_ = false;
    data_in_ = {};
    range_lock_.release();
}

}  // namespace srp::target
