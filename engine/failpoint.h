// failpoint.h — named points where a test can kill the process outright (SIGKILL, as a crash, a power cut
// or `kill -9` would) to check that what is on disk resumes to the result an uninterrupted run gives
// (tests/test_kill_resume.cpp). Off unless the environment variable DRU_FAILPOINT names a point: "NAME"
// kills at its first hit, "NAME@N" at its N-th hit in this process. The points:
//   fit.batch          after a training step (inside an epoch, before its checkpoint)
//   fit.epoch_saved    after an epoch's training state is on disk, before the convenience copies
//   stage.weights_saved  after a stage's weights file is written, before the JSON that marks it finished
#pragma once

namespace dru {

void failpoint(const char* name);

}  // namespace dru
