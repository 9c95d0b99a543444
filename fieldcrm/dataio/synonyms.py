"""Column headers that mean each field: CRM exports (Salesforce, HubSpot, Pipedrive, Zoho,
SuiteCRM) and Swedish, Slovak and Chinese spreadsheets."""

from __future__ import annotations

# Field → headers (any case/diacritics; see mapping.normalise_header). Shared by all entities
# unless ENTITY_SYNONYMS overrides a field for one entity.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": (
        "id", "external id", "record id", "account id", "company id", "organization id",
        "org id", "customer id", "customer number", "customer no", "kundnummer", "kundnr",
        "kund id", "org nr", "organisationsnummer", "ico", "ičo", "číslo zákazníka",
        "客户编号", "客戶編號", "编号", "編號",
    ),
    "name": (
        "name", "account name", "company", "company name", "organization", "organisation",
        "organization name", "organization - name", "customer", "customer name", "business name",
        "företag", "företagsnamn", "kund", "kundnamn", "namn", "firma", "firmanamn",
        "názov", "názov firmy", "obchodné meno", "meno firmy", "zákazník", "odberateľ",
        "公司", "公司名称", "公司名稱", "客户名称", "客戶名稱", "名称", "名稱", "企业名称",
        "企業名稱", "客户", "客戶",
    ),
    "status": (
        "status", "type", "account type", "lifecycle stage", "stage", "kundstatus", "typ",
        "stav", "状态", "狀態", "类型", "類型",
    ),
    "tier": (
        "tier", "rating", "class", "category", "priority", "abc", "abc class", "klass",
        "kategori", "prioritet", "trieda", "kategória", "priorita", "等级", "等級", "级别", "級別",
    ),
    "owner": (
        "owner", "account owner", "company owner", "organization - owner", "assigned user",
        "assigned user name", "assigned to", "sales rep", "rep", "säljare", "ansvarig",
        "kontoansvarig", "obchodník", "zodpovedný", "负责人", "負責人", "业务员", "業務員",
    ),
    "tags": ("tags", "labels", "label", "organization - label", "taggar", "etikett", "štítky",
             "značky", "标签", "標籤"),
    "street": (
        "street", "address", "street address", "address 1", "address line 1", "billing street",
        "billing address", "mailing street", "shipping street", "organization - address",
        "organization - address - street/road name", "adress", "gatuadress", "besöksadress",
        "utdelningsadress", "gata", "ulica", "adresa", "sídlo", "地址", "街道", "详细地址",
        "詳細地址",
    ),
    "postcode": (
        "postcode", "post code", "postal code", "zip", "zip code", "zip/postal code",
        "billing zip/postal code", "billing postal code", "billing code", "billing zip",
        "mailing zip/postal code", "organization - address - zip/postal code", "postnummer",
        "postnr", "psč", "psc", "poštové smerovacie číslo", "邮编", "邮政编码", "郵遞區號",
        "郵政編碼",
    ),
    "city": (
        "city", "town", "billing city", "mailing city", "shipping city",
        "organization - address - city/town/village/locality", "ort", "postort", "stad",
        "kommun", "mesto", "obec", "城市", "市", "县市", "縣市",
    ),
    "region": (
        "region", "state", "province", "county", "state/province", "state/region",
        "billing state/province", "billing state", "organization - address - state/county",
        "län", "landskap", "kraj", "okres", "省", "省份", "地区", "地區",
    ),
    "country": (
        "country", "country/region", "billing country", "mailing country",
        "organization - address - country", "land", "krajina", "štát", "国家", "國家",
    ),
    "lat": ("lat", "latitude", "y", "latitud", "zemepisná šírka", "šírka", "纬度", "緯度"),
    "lon": ("lon", "lng", "long", "longitude", "x", "longitud", "zemepisná dĺžka", "dĺžka",
            "经度", "經度"),
    "phone": (
        "phone", "phone number", "telephone", "office phone", "main phone", "work phone",
        "mobile", "mobile phone", "mobile phone number", "mobile number", "cell", "cell phone",
        "person - phone", "person - phone - work",
        "organization - phone", "telefon", "telefonnummer", "tel", "tel nr", "mobil",
        "mobilnummer", "växel", "telefón", "tel. číslo", "telefónne číslo", "mobil číslo",
        "电话", "電話", "手机", "手機", "联系电话", "聯絡電話",
    ),
    "email": (
        "email", "e-mail", "email address", "e-mail address", "work email",
        "person - email", "person - email - work", "email 1", "e-post", "epost",
        "e-postadress", "mejl", "mail", "emailová adresa", "電子郵件", "电子邮件", "邮箱",
        "郵箱", "电邮", "電郵",
    ),
    "website": (
        "website", "web site", "web", "url", "homepage", "company domain name", "domain",
        "webbplats", "hemsida", "webbadress", "webová stránka", "web stránka", "网站",
        "網站", "网址", "網址",
    ),
    "notes": (
        "notes", "note", "description", "comments", "comment", "remarks", "anteckningar",
        "anteckning", "kommentar", "beskrivning", "poznámka", "poznámky", "popis",
        "备注", "備註", "说明", "說明",
    ),
    "contact_name": ("contact", "contact person", "primary contact", "kontaktperson",
                     "kontakt", "kontaktná osoba", "联系人", "聯絡人"),
    "account_ref": (
        "account", "account name", "company", "company name", "organization",
        "organization name", "person - organization", "deal - organization", "customer",
        "associated company", "account: account name", "related to account", "parent account",
        "related to", "företag", "kund", "företagsnamn", "firma", "názov firmy", "zákazník",
        "公司", "公司名称", "公司名稱", "客户", "客戶", "客户名称", "客戶名稱",
    ),
    "first_name": ("first name", "firstname", "given name", "person - first name", "förnamn",
                   "meno", "krstné meno", "名"),
    "last_name": ("last name", "lastname", "surname", "family name", "person - last name",
                  "efternamn", "priezvisko", "姓"),
    "title": ("title", "job title", "position", "role", "titel", "befattning", "roll",
              "funkcia", "pozícia", "職稱", "职称", "职位", "職位"),
    "planned_at": ("planned", "planned at", "planned date", "start", "start date",
                   "start date time", "due date", "scheduled", "datum", "planerad", "termín",
                   "plánované", "计划日期", "計劃日期", "预约时间"),
    "checked_in_at": ("visited at", "visit date", "date", "activity date", "completed",
                      "completed at", "besökt", "besöksdatum", "dátum návštevy", "dátum",
                      "拜访日期", "拜訪日期", "日期"),
    "duration_min": ("duration", "duration (min)", "minutes", "längd", "minuter", "trvanie",
                     "时长", "時長"),
    "outcome": ("outcome", "result", "resultat", "utfall", "výsledok", "结果", "結果"),
    "next_step": ("next step", "next steps", "nästa steg", "ďalší krok", "下一步"),
    "follow_up_on": ("follow up", "follow-up", "follow up date", "follow-up on", "uppföljning",
                     "följ upp", "opätovný kontakt", "跟进日期", "跟進日期"),
    "sold_on": ("date", "sale date", "order date", "invoice date", "close date", "closed date",
                "datum", "orderdatum", "fakturadatum", "dátum", "dátum predaja",
                "日期", "销售日期", "銷售日期", "订单日期", "訂單日期"),
    "amount": ("amount", "total", "value", "revenue", "sum", "deal - value", "belopp",
               "summa", "värde", "suma", "čiastka", "hodnota", "金额", "金額", "总额", "總額"),
    "currency": ("currency", "currency code", "deal - currency", "valuta", "mena",
                 "币种", "幣別", "货币", "貨幣"),
}

# Per-entity overrides: the visit "status" means VisitStatus, the visit "date" a check-in...
ENTITY_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "contacts": {
        "name": ("name", "full name", "contact name", "contact", "person - name", "namn",
                 "kontaktperson", "meno a priezvisko", "celé meno", "姓名", "联系人", "聯絡人"),
    },
    "visits": {
        "status": ("status", "visit status", "activity status", "besöksstatus", "stav", "状态",
                   "狀態"),
        "notes": (*SYNONYMS["notes"], "subject", "ämne", "predmet", "主题", "主題"),
    },
}


def synonyms_for(entity: str, field: str) -> tuple[str, ...]:
    """Return the headers that mean ``field`` for ``entity`` (the field's own name included)."""
    own = ENTITY_SYNONYMS.get(entity, {}).get(field) or SYNONYMS.get(field, ())
    return (field.replace("_", " "), *own)
