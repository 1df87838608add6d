"""Writes a small XLSForm workbook (survey, choices, settings) with openpyxl,
as a form author's spreadsheet program would: make_xlsform.py OUT.xlsx"""
import sys

import openpyxl

book = openpyxl.Workbook()
survey = book.active
survey.title = "survey"
for row in [["type", "name", "label::中文 (zh)", "label::English (en)", "required", "constraint"],
            ["text", "village_name", "村名", "village", "yes", ""],
            ["select_one yes_no", "water_ok", "水质合格", "water fit to drink", "yes", ""],
            ["integer", "depth_m", "井深(米)", "well depth (m)", "", ". > 0 and . < 500"]]:
    survey.append(row)
choices = book.create_sheet("choices")
for row in [["list_name", "name", "label::中文 (zh)", "label::English (en)"],
            ["yes_no", "yes", "是", "yes"], ["yes_no", "no", "否", "no"]]:
    choices.append(row)
settings = book.create_sheet("settings")
settings.append(["form_id", "version", "form_title::zh", "form_title::en"])
settings.append(["well_check", "2026.1", "饮水井检查", "Drinking-water well check"])
book.save(sys.argv[1])
