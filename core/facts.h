// The dashboard's figures of one record (its server_facts row) and of its
// germplasm samples (its server_samples rows), computed from the record's
// answers in C++ so that both of the server's stores keep them the same
// way. Private to the core.
//
// They compute what the SQL of schema.h computes (migrations 9, 12 and 13
// filled the tables with it; facts_test checks the two agree), including
// SQLite's reading of dates (julianday()) and of numbers in text (CAST AS
// REAL). PostgreSQL keeps the numbers as numbers; SQLite keeps the text
// they were answered in.
#ifndef TIANYE_CORE_FACTS_H_
#define TIANYE_CORE_FACTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sql.h"
#include "tianye/status.h"

namespace tianye {
class Store;
}

namespace tianye::internal {

// One current answer of a record: nullopt when it was cleared (a NULL in
// server_fields). A record's answers go in sorted by name, bytewise.
struct FactField {
  std::string_view name;
  const std::optional<std::string>* value;
};

// A record's answers as server_fields holds them, sorted by name bytewise:
// what a rebuild reads where no ledger holds them. `fields` views `rows`
// (a move keeps the view; a copy would not, so there is none).
struct StoredAnswers {
  StoredAnswers() = default;
  StoredAnswers(StoredAnswers&&) = default;
  StoredAnswers& operator=(StoredAnswers&&) = default;
  StoredAnswers(const StoredAnswers&) = delete;
  StoredAnswers& operator=(const StoredAnswers&) = delete;

  std::vector<std::pair<std::string, std::optional<std::string>>> rows;
  std::vector<FactField> fields;
};
Result<StoredAnswers> ReadAnswers(Connection& conn, const std::string& record_id);

// What SQLite's julianday(text) gives, in its own unit: milliseconds since
// the Julian day 0 (julianday() is this / 86400000.0). nullopt where
// julianday() is NULL; also for 'now' and the other words it reads as the
// present moment (an answer is never the time it is read).
std::optional<int64_t> JulianDayMs(std::string_view text);

// What SQLite's CAST(text AS REAL) gives: the number the longest number-like
// start of the text spells, 0 when none.
double SqliteReal(std::string_view text);

// The facts row WriteFacts would write for `fields`, each value as text
// ("null" for NULL), in the table's column order: for the fuzzer and tests.
std::vector<std::string> DescribeFacts(const std::vector<FactField>& fields);

// Rewrites the facts row of record `record_id` from its answers `fields`,
// with the record's own columns from server_records beside them (and the
// form check's counts, when the check is of the record's current version).
Status WriteFacts(Connection& conn, const std::string& record_id, const std::vector<FactField>& fields);

// Rewrites the server_samples rows of record `record_id` (none unless it is
// a germplasm record).
Status WriteSamples(Connection& conn, const std::string& record_id, const std::vector<FactField>& fields);

// Fills server_facts and server_samples when the store's upgrade left them
// to fill ("server.facts_stale"; PostgreSQL databases from before they
// existed there): every record's rows from its answers. Returns how many
// records; 0 when there was nothing to do.
Result<int64_t> BuildFactsIfStale(Store& store);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_FACTS_H_
