"""Fill untranslated entries of a .po catalog from a JSON mapping {msgid: msgstr}.

Usage: python scripts/fill_translations.py wxcrm/translations/zh/LC_MESSAGES/messages.po mapping.json
Existing translations are kept; prints the msgids still untranslated.
"""
import json
import sys

from babel.messages.pofile import read_po, write_po


def main(po_path: str, mapping_path: str) -> None:
    with open(mapping_path, encoding="utf-8") as fh:
        mapping = json.load(fh)
    with open(po_path, "rb") as fh:
        catalog = read_po(fh)
    for message in catalog:
        if message.id and not message.string and message.id in mapping:
            message.string = mapping[message.id]
    with open(po_path, "wb") as fh:
        write_po(fh, catalog, sort_output=True, omit_header=False, width=120)
    missing = [m.id for m in catalog if m.id and not m.string]
    for msgid in missing:
        print("untranslated:", msgid)


if __name__ == "__main__":
    main(*sys.argv[1:3])
