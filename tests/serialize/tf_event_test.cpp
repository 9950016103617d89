// TensorBoard event records against the bytes TensorBoard's own protobuf classes
// (tensorboard.compat.proto.event_pb2, tensorboard 2.20) serialize for the same events, and the
// TFRecord framing against its masked CRC-32C (tensorboard's masked_crc32c). The end-to-end
// test reads whole runs back with EventAccumulator (tests/trainer/tensorboard_test.sh).
#include <gtest/gtest.h>

#include <string>

#include "serialize/tf_event.h"

namespace nt {
namespace {

std::string bytes(const char* data, size_t size) {
  return std::string(data, size);
}

TEST(TfEvent, ScalarsEncodeAsTensorBoardsProtobuf) {
  // Event(wall_time=1.5, step=7, summary=Summary(value=[Value(tag="train/loss",
  // simple_value=2.5), Value(tag="val/bpb", simple_value=-0.125)]))
  const char expected[] =
      "\x09\x00\x00\x00\x00\x00\x00\xf8\x3f\x10\x07\x2a\x23\x0a\x11\x0a\x0a\x74\x72\x61\x69\x6e"
      "\x2f\x6c\x6f\x73\x73\x15\x00\x00\x20\x40\x0a\x0e\x0a\x07\x76\x61\x6c\x2f\x62\x70\x62\x15"
      "\x00\x00\x00\xbe";
  EXPECT_EQ(event_with_scalars(1.5, 7, {{"train/loss", 2.5}, {"val/bpb", -0.125}}),
            bytes(expected, sizeof(expected) - 1));
}

TEST(TfEvent, SessionStartAndFileVersionEncodeAsTensorBoardsProtobuf) {
  // Event(wall_time=2.0, step=300, session_log=SessionLog(status=START))
  const char start[] = "\x09\x00\x00\x00\x00\x00\x00\x00\x40\x10\xac\x02\x3a\x02\x08\x01";
  EXPECT_EQ(event_with_session_start(2.0, 300), bytes(start, sizeof(start) - 1));
  // Event(wall_time=3.25, file_version="brain.Event:2"): step 0 is left out
  const char version[] =
      "\x09\x00\x00\x00\x00\x00\x00\x0a\x40\x1a\x0d\x62\x72\x61\x69\x6e\x2e\x45\x76\x65\x6e\x74"
      "\x3a\x32";
  EXPECT_EQ(event_with_file_version(3.25), bytes(version, sizeof(version) - 1));
}

TEST(TfEvent, RecordFramingCarriesMaskedCrcs) {
  // length 5, masked CRC-32C of the length, "hello", masked CRC-32C of "hello"
  const char expected[] =
      "\x05\x00\x00\x00\x00\x00\x00\x00\xea\xb2\x04\x3e\x68\x65\x6c\x6c\x6f\xbb\x1f\x1c\x19";
  EXPECT_EQ(tf_record("hello"), bytes(expected, sizeof(expected) - 1));
}

}  // namespace
}  // namespace nt
