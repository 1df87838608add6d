// CSV written for exports reads back cell for cell (through the same reader
// the forms' CSV lists use), Chinese text, quotes and line breaks included.
#include "tianye/csv.h"

#include <gtest/gtest.h>

#include "csv.h"

namespace tianye {
namespace {

TEST(CsvTest, LinesQuoteOnlyWhatNeedsIt) {
  EXPECT_EQ(CsvLine({"a", "户主", ""}), "a,户主,\r\n");
  EXPECT_EQ(CsvLine({"a,b", "say \"hi\"", "two\nlines"}), "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
}

TEST(CsvTest, RoundTripsThroughTheReader) {
  std::vector<std::vector<std::string>> rows = {
      {"@id", "hh_head_name", "advice"},
      {"01a0", "刘桂兰", "屋面局部渗漏，建议维修加固"},
      {"01a1", "O'Brien, \"Jr\"", "line one\r\nline two"},
      {"01a2", "", "="},
  };
  std::string text = kUtf8Bom;
  for (const auto& row : rows) text += CsvLine(row);
  auto parsed = internal::ParseCsv(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
  EXPECT_EQ(*parsed, rows);
}

}  // namespace
}  // namespace tianye
