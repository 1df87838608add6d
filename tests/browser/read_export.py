"""Reads an export the way a user's tools would, and prints it as JSON.

  read_export.py xlsx FILE   {sheet name: [row, ...]} read by openpyxl
  read_export.py zip FILE    {"bad": first corrupt member or null,
                              "entries": [{name, size, stored, sha256}],
                              "manifest": text of manifest.csv}
"""
import hashlib
import json
import sys
import zipfile


def read_xlsx(path):
    import openpyxl
    book = openpyxl.load_workbook(path, read_only=True)
    return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in book.worksheets}


def read_zip(path):
    with zipfile.ZipFile(path) as z:
        entries = [{"name": i.filename, "size": i.file_size, "stored": i.compress_type == zipfile.ZIP_STORED,
                    "sha256": hashlib.sha256(z.read(i)).hexdigest()} for i in z.infolist()]
        return {"bad": z.testzip(), "entries": entries,
                "manifest": z.read("manifest.csv").decode("utf-8-sig")}


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    print(json.dumps(read_xlsx(path) if kind == "xlsx" else read_zip(path), ensure_ascii=False, default=str))
