"""English normalisation: every number, date, time, amount and unit is read as words."""

from __future__ import annotations

import re

import pytest

from voxgate.text.normalize_en import normalize_en

CASES = [
    # money (issue example first)
    ("$3.50", "three dollars and fifty cents"),
    ("$5", "five dollars"),
    ("$1", "one dollar"),
    ("$0.99", "ninety-nine cents"),
    ("$1,234.56", "one thousand two hundred thirty-four dollars and fifty-six cents"),
    ("€20", "twenty euros"),
    ("20 €", "twenty euros"),
    ("£1.5 million", "one point five million pounds"),
    ("£1.01", "one pound and one penny"),
    ("$5k", "five thousand dollars"),
    ("-$5", "minus five dollars"),
    # an amount before its noun names its unit in the singular; elsewhere, and with cents, plural
    ("He found a $20 bill.", "He found a twenty dollar bill."),
    ("a $1.5 million deal", "a one point five million dollar deal"),
    ("An €8 ticket", "An eight euro ticket"),
    ("a $2.50 fee", "a two dollars and fifty cents fee"),
    ("It was $20 cheaper.", "It was twenty dollars cheaper."),
    ("a $20 or $30 bill", "a twenty dollars or thirty dollars bill"),
    ("a 512 GB drive", "a five hundred twelve gigabyte drive"),
    ("an 8 km run", "an eight kilometer run"),
    ("She ran 8 km today.", "She ran eight kilometers today."),
    ("Take a 5 km.", "Take a five kilometers."),
    # cardinals, decimals, negatives, codes
    ("1,234", "one thousand two hundred thirty-four"),
    ("1,000,000", "one million"),
    ("3.14", "three point one four"),
    ("0.5", "zero point five"),
    ("-5", "minus five"),
    ("It was -5 outside", "It was minus five outside"),
    ("007", "zero zero seven"),
    ("call 555-123-4567", "call five five five, one two three, four five six seven"),
    ("iPhone15", "iPhone fifteen"),
    ("COVID-19", "COVID-nineteen"),
    ("v1.2.3", "v one point two point three"),
    ("pages 5-10", "pages five to ten"),
    ("1/2 cup", "one half cup"),
    ("24/7", "twenty-four seven"),
    # ordinals, years, decades
    ("21st", "twenty-first"),
    ("2nd", "second"),
    ("100th", "one hundredth"),
    ("1999", "nineteen ninety-nine"),
    ("2026", "twenty twenty-six"),
    ("in 2005.", "in two thousand five."),
    ("1905", "nineteen oh five"),
    ("the 2000s", "the two thousands"),
    ("1990s", "nineteen nineties"),
    ("the '80s", "the eighties"),
    # dates
    ("November 24, 2026", "November twenty-fourth, twenty twenty-six"),
    ("Nov. 24", "November twenty-fourth"),
    ("2026-11-24", "November twenty-fourth, twenty twenty-six"),
    ("11/24/2026", "November twenty-fourth, twenty twenty-six"),
    ("24/11/2026", "November twenty-fourth, twenty twenty-six"),
    ("24 November 2026", "the twenty-fourth of November twenty twenty-six"),
    ("the 5th of May", "the fifth of May"),
    # times (issue example first)
    ("3:30 pm", "three thirty p m"),
    ("3:30 PM", "three thirty p m"),
    ("15:00", "fifteen hundred"),
    ("3:00", "three o'clock"),
    ("7 am", "seven a m"),
    ("9:05 a.m. on Monday", "nine oh five a m on Monday"),
    ("at 3 p.m. Then we left", "at three p m. Then we left"),
    ("10:30:15", "ten thirty and fifteen seconds"),
    # percentages (issue example first)
    ("15%", "fifteen percent"),
    ("2.5%", "two point five percent"),
    ("5-10%", "five to ten percent"),
    # units
    ("5 km", "five kilometers"),
    ("1 km", "one kilometer"),
    ("10kg", "ten kilograms"),
    ("3 ml", "three milliliters"),
    ("20°C", "twenty degrees Celsius"),
    ("-5°C", "minus five degrees Celsius"),
    ("60 mph", "sixty miles per hour"),
    ("100 MB", "one hundred megabytes"),
    ("2 GB", "two gigabytes"),
    ("5 ft", "five feet"),
    ("1 ft", "one foot"),
    ("5 minutes", "five minutes"),
    # abbreviations
    ("Dr. Smith", "Doctor Smith"),
    ("Mr. Brown and Mrs. Green", "Mister Brown and Missus Green"),
    ("Mr. and Mrs. Smith arrived.", "Mister and Missus Smith arrived."),
    ("Thanks, Mr.", "Thanks, Mr."),
    # a sentence's period after a month is kept; an abbreviation's only at a sentence end
    ("We met on the 2nd of May. Then we left.", "We met on the second of May. Then we left."),
    ("The deadline is the 31st of August.", "The deadline is the thirty-first of August."),
    ("Born 3rd Aug. in Paris.", "Born the third of August in Paris."),
    ("Due 3 Aug. Pay now.", "Due the third of August. Pay now."),
    # a PO box number is a code
    ("Send it to PO Box 4410, Springfield.", "Send it to P O Box four four one zero, Springfield."),
    ("P.O. Box 12", "P O Box one two"),
    ("We love St. Louis", "We love Saint Louis"),
    ("Visit St. Louis", "Visit Saint Louis"),
    ("I live on Main St. It is nice.", "I live on Main Street. It is nice."),
    ("e.g. apples", "for example apples"),
    ("E.g. this", "For example this"),
    ("apples, pears, etc.", "apples, pears, et cetera."),
    ("Ali vs. Frazier", "Ali versus Frazier"),
    ("Tom & Jerry", "Tom and Jerry"),
    ("R&D", "R and D"),
    ("No. 5", "number five"),
    ("#1", "number one"),
    ("No. I will not.", "No. I will not."),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_en(text: str, expected: str) -> None:
    """Each English pattern is read the way a person would say it."""
    assert normalize_en(text) == expected


@pytest.mark.parametrize(("text", "_"), CASES)
def test_no_digits_survive(text: str, _: str) -> None:
    """No ASCII digit reaches an engine after English normalisation."""
    assert not re.search(r"[0-9]", normalize_en(text))


def test_sentence_without_numbers_is_unchanged() -> None:
    """Plain prose passes through untouched."""
    text = "The quick brown fox jumps over the lazy dog, doesn't it?"
    assert normalize_en(text) == text
