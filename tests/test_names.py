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


@pytest.mark.parametrize(("full_name", "greeting"), [
    ("Anna Petrova", "Anna"),
    ("Mary-Kate O'Brien-Smith", "Mary-Kate"),
    ("Mrs. Beatrice Holloway", "Mrs. Holloway"),  # she wrote her title: greeted with it
    ("Mr John Smith Jr.", "Mr Smith"),
    ("Herr Meier", "Herr Meier"),
    ("J. Miller", "J. Miller"),  # an initial is no greeting
    ("Петрова Анна Сергеевна", "Анна Сергеевна"),  # first name and patronymic, the polite form
    ("Анна Сергеевна Петрова", "Анна Сергеевна"),
    ("Шостакович Дмитрий Дмитриевич", "Дмитрий Дмитриевич"),
    ("Петрова Анна", "Анна"),
    ("Петров Илья", "Илья"),  # «Петров» could be the plural of «Пётр»: the likeliest reading decides
    ("Ким Виктория", "Виктория"),
    ("Анна Петрова", "Анна"),
    ("Dr. Friedrich von Bülow", "Dr. von Bülow"),
    ("", ""),
])
def test_scripts_and_texts_greet_the_client_as_people_are_greeted(full_name, greeting):
    assert names.greeting_name(full_name) == greeting


@pytest.mark.parametrize(("typed", "stored"), [
    ("SARAH O'CONNOR", "Sarah O'Connor"),
    ("JAMES MCDONALD III", "James McDonald III"),
    ("ludwig van beethoven", "Ludwig van Beethoven"),
    ("HARRIET OKAFOR-SMITH", "Harriet Okafor-Smith"),
    ("АННА ПЕТРОВА", "Анна Петрова"),
    # typed with capitals of its own: left exactly as typed
    ("Jean DUPONT", "Jean DUPONT"),
    ("Ludwig van Beethoven", "Ludwig van Beethoven"),
    ("DeShawn McAllister", "DeShawn McAllister"),
])
def test_a_name_typed_in_one_case_is_written_as_names_are(typed, stored):
    assert names.tidy_case(typed) == stored
