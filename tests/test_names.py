"""Whether a title's part may be a person's name is told without the first-name list, and says the same."""
import pytest

from outreach.services.reading import names

PARTS = ["Anna Petrova", "Zork Blat", "J. Miller", "Dr. Hans-Jürgen Schröder", "Schröder, Hans-Jürgen", "Lunch",
         "cleaning", "anna lee", "Follow-up", "Root canal", "Анна Петрова", "Консультация", "Иванов И.И.", "Dr.",
         "Job #1042", "A B C D E F G", "", "Mary-Kate O'Neil Jr.", "von", "Glen"]


@pytest.mark.parametrize("part", PARTS)
def test_could_be_a_name_is_person_score_above_minus_one(part):
    assert names.could_be_a_name(part) == (names.person_score(part) > -1)


def test_could_be_a_name_does_not_load_the_first_name_list(monkeypatch):
    def no_lexicon():
        raise AssertionError("the first-name list was consulted")

    monkeypatch.setattr(names, "_first_names", no_lexicon)
    names.could_be_a_name.cache_clear()
    assert names.could_be_a_name("Quentin Zabriskie")
    assert not names.could_be_a_name("Teeth whitening")
