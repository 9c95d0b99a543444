"""Header → field matching for CRM exports and local spreadsheets, and presets."""

from __future__ import annotations

import pytest

from fieldcrm.dataio.mapping import (
    Preset,
    apply_preset,
    as_mapping,
    check_mapping,
    load_preset,
    normalise_header,
    preset_from_mapping,
    save_preset,
    suggest_mapping,
)
from fieldcrm.errors import InvalidInput

CASES = {
    "salesforce": (
        ["Account Name", "Billing Street", "Billing City", "Billing Zip/Postal Code",
         "Billing State/Province", "Billing Country", "Phone", "Website", "Account Owner", "Type",
         "Rating", "Industry"],
        ["name", "street", "city", "postcode", "region", "country", "phone", "website", "owner",
         "status", "tier", None],
    ),
    "hubspot": (
        ["Record ID", "Company name", "Company Domain Name", "Phone Number", "Street Address",
         "City", "State/Region", "Postal Code", "Country/Region", "Company owner",
         "Lifecycle Stage"],
        ["external_id", "name", "website", "phone", "street", "city", "region", "postcode",
         "country", "owner", "status"],
    ),
    "pipedrive": (
        ["Organization - Name", "Organization - Address", "Organization - Owner",
         "Organization - Label", "Organization - Address - City/town/village/locality"],
        ["name", "street", "owner", "tags", "city"],
    ),
    "zoho": (
        ["Account Name", "Phone", "Website", "Billing Street", "Billing City", "Billing Code",
         "Billing Country", "Account Type", "Description"],
        ["name", "phone", "website", "street", "city", "postcode", "country", "status", "notes"],
    ),
    "suitecrm": (
        ["Name", "Office Phone", "Email Address", "Billing Street", "Billing Postal Code",
         "Assigned User Name"],
        ["name", "phone", "email", "street", "postcode", "owner"],
    ),
    "swedish": (
        ["Företagsnamn", "Besöksadress", "Postnr", "Postort", "Län", "Telefon", "E-post",
         "Hemsida", "Anteckningar", "Kontaktperson"],
        ["name", "street", "postcode", "city", "region", "phone", "email", "website", "notes",
         "contact_name"],
    ),
    "slovak": (
        ["Názov firmy", "Ulica", "PSČ", "Mesto", "Kraj", "Telefón", "E-mail", "Webová stránka",
         "Poznámka", "IČO"],
        ["name", "street", "postcode", "city", "region", "phone", "email", "website", "notes",
         "external_id"],
    ),
    "chinese": (
        ["公司名稱", "地址", "郵遞區號", "城市", "省份", "電話", "電子郵件", "網站", "備註", "緯度", "經度"],
        ["name", "street", "postcode", "city", "region", "phone", "email", "website", "notes",
         "lat", "lon"],
    ),
    "chinese_simplified": (
        ["公司名称", "详细地址", "邮编", "城市", "电话", "邮箱", "网站", "联系人"],
        ["name", "street", "postcode", "city", "phone", "email", "website", "contact_name"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_crm_and_local_headers_map_to_fields(case: str) -> None:
    headers, expected = CASES[case]
    assert [m.field for m in suggest_mapping(headers, "accounts")] == expected


def test_near_misses_match_fuzzily_and_short_noise_does_not() -> None:
    matches = suggest_mapping(["Compnay Name", "Telephon", "E-mial address", "zz", "Q"], "accounts")
    assert [m.field for m in matches] == ["name", "phone", "email", None, None]
    assert matches[0].how == "fuzzy" and matches[0].score < 100


def test_each_field_is_taken_once_by_the_best_column() -> None:
    matches = suggest_mapping(["Mobile", "Phone", "Name", "Company"], "accounts")
    assert [m.field for m in matches] == [None, "phone", "name", None]


def test_entity_specific_meanings() -> None:
    contacts = suggest_mapping(["Account Name", "First Name", "Last Name", "Title", "Email"], "contacts")
    assert [m.field for m in contacts] == ["account_ref", "first_name", "last_name", "title", "email"]
    sales = suggest_mapping(["Kund", "Datum", "Belopp", "Valuta"], "sales")
    assert [m.field for m in sales] == ["account_ref", "sold_on", "amount", "currency"]
    visits = suggest_mapping(["Company", "Date", "Status", "Subject"], "visits")
    assert [m.field for m in visits] == ["account_ref", "checked_in_at", "status", "notes"]


def test_normalise_header() -> None:
    assert normalise_header("  Billing Zip/Postal-Code ") == "billing zip postal code"
    assert normalise_header("Poštové smerovacie číslo") == "postove smerovacie cislo"
    assert normalise_header("公司名稱") == "公司名稱"


def test_preset_round_trip_and_apply(tmp_path) -> None:
    headers = ["Kundnamn", "Our weird column", "Stad", "Extra"]
    mapping = as_mapping(suggest_mapping(headers, "accounts"))
    mapping[1] = "notes"
    preset = preset_from_mapping("accounts", headers, mapping, default_country="SK", decimal=",")
    path = tmp_path / "preset.json"
    save_preset(path, preset)
    loaded = load_preset(path)
    assert loaded == preset
    # A later file with the same headers in another order, and one new column.
    later = ["stad", "OUR WEIRD COLUMN", "Kundnamn", "Telefon", "Extra"]
    assert [m.field for m in apply_preset(later, loaded)] == ["city", "notes", "name", "phone", None]


def test_bad_presets(tmp_path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{not json")
    with pytest.raises(InvalidInput, match="Cannot read"):
        load_preset(path)
    path.write_text('{"entity": "accounts", "columns": {"A": "nonsense"}}')
    with pytest.raises(InvalidInput, match="nonsense"):
        load_preset(path)
    path.write_text('{"entity": "planets"}')
    with pytest.raises(InvalidInput, match="not a fieldcrm mapping preset"):
        load_preset(path)
    assert Preset("accounts").default_country == "SE"


def test_check_mapping() -> None:
    check_mapping("accounts", {0: "name", 1: "city"}, 2)
    with pytest.raises(InvalidInput, match="mapped twice"):
        check_mapping("accounts", {0: "name", 1: "name"}, 2)
    with pytest.raises(InvalidInput, match="not a field"):
        check_mapping("accounts", {0: "amount"}, 2)
    with pytest.raises(InvalidInput, match="does not exist"):
        check_mapping("accounts", {5: "name"}, 2)


def test_unknown_entity_is_a_user_error() -> None:
    with pytest.raises(InvalidInput, match="Unknown entity 'planets'"):
        suggest_mapping(["name"], "planets")
