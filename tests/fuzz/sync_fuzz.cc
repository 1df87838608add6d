// Fuzz target: the sync wire decoders (push batches, push results, pull
// pages), which take bytes from the network. Whatever decodes must encode
// and decode again to the same thing. A pull page's fields then become a
// record as a device builds it (repeat rows in the order their order keys
// say): built again from its own fields, the record must not change.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tianye/record.h"
#include "tianye/sync.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto batch = tianye::DecodePushBatch(text)) {
    std::string again = tianye::EncodePushBatch(*batch);
    auto back = tianye::DecodePushBatch(again);
    if (!back || tianye::EncodePushBatch(*back) != again) std::abort();
  }
  if (auto result = tianye::DecodePushResult(text)) {
    std::string again = tianye::EncodePushResult(*result);
    if (!tianye::DecodePushResult(again)) std::abort();
  }
  if (auto page = tianye::DecodePullPage(text)) {
    std::string again = tianye::EncodePullPage(*page);
    auto back = tianye::DecodePullPage(again);
    if (!back || tianye::EncodePullPage(*back) != again) std::abort();
    tianye::FieldMap fields;
    for (const tianye::FieldChange& c : page->changes) {
      if (c.value) fields[c.field] = *c.value;
    }
    tianye::Record once;
    tianye::ApplyFields(fields, &once);
    tianye::Record twice;
    tianye::ApplyFields(tianye::RecordFields(once), &twice);
    if (twice.values_json != once.values_json) std::abort();
  }
  return 0;
}
