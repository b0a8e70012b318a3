"""The canonical 双公示 record model (national standard, version 2).

One definition shared by extraction (which canonical names a SELECT may produce),
normalisation (how each field is cleaned), validation, delivery and reports (labels).
Kept free of heavy imports: DAG files import it at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    PERMIT = "permit"
    PENALTY = "penalty"

    @property
    def prefix(self) -> str:
        return "XK" if self is Kind.PERMIT else "CF"

    @property
    def label(self) -> str:
        return "行政许可" if self is Kind.PERMIT else "行政处罚"


class FieldType(StrEnum):
    TEXT = "text"
    USCC = "uscc"  # 统一社会信用代码
    PERSONAL_ID = "personal_id"  # a person's ID number: masked on public targets
    LEGACY_CODE = "legacy_code"  # older registration numbers: normalised like codes, no check
    DATE = "date"
    AMOUNT = "amount"  # 万元
    ENUM = "enum"
    MULTI_ENUM = "multi_enum"  # several values joined with ';'
    STATUS = "status"


@dataclass(frozen=True)
class Field:
    code: str
    label: str
    type: FieldType = FieldType.TEXT
    enum: tuple[str, ...] = ()


COUNTERPARTY_CATEGORIES = ("法人及非法人组织", "自然人", "个体工商户")
ID_TYPES = (
    "身份证",
    "护照",
    "港澳居民来往内地通行证",
    "台湾居民来往大陆通行证",
    "外国人永久居留身份证",
)
PERMIT_CATEGORIES = ("普通", "特许", "认可", "核准", "登记", "其他")
PENALTY_CATEGORIES_2021 = (
    "警告",
    "通报批评",
    "罚款",
    "没收违法所得",
    "没收非法财物",
    "暂扣许可证件",
    "降低资质等级",
    "吊销许可证件",
    "限制开展生产经营活动",
    "责令停产停业",
    "责令关闭",
    "限制从业",
    "行政拘留",
    "其他",
)
PENALTY_CATEGORIES_2015 = (
    "警告",
    "罚款",
    "没收违法所得、没收非法财物",
    "责令停产停业",
    "暂扣或者吊销许可证、暂扣或者吊销执照",
    "行政拘留",
    "其他",
)
PENALTY_CATEGORIES = tuple(dict.fromkeys(PENALTY_CATEGORIES_2021 + PENALTY_CATEGORIES_2015))
# 0 or blank = 正常, 1 = 撤销, 2 = 异议, 3 = 其他
STATUS_CODES = {"0": "正常", "1": "撤销", "2": "异议", "3": "其他"}
STATUS_REVOKED = "1"
NO_END_DATE = "2099-12-31"  # 长期: a valid-to date that means "no end"


def _identity_block(p: str) -> tuple[Field, ...]:
    return (
        Field(f"{p}_XDR_MC", "行政相对人名称"),
        Field(f"{p}_XDR_LB", "行政相对人类别", FieldType.ENUM, COUNTERPARTY_CATEGORIES),
        Field(f"{p}_XDR_SHXYM", "统一社会信用代码", FieldType.USCC),
        Field(f"{p}_XDR_GSZC", "工商注册号", FieldType.LEGACY_CODE),
        Field(f"{p}_XDR_ZZJG", "组织机构代码", FieldType.LEGACY_CODE),
        Field(f"{p}_XDR_SWDJ", "税务登记号", FieldType.LEGACY_CODE),
        Field(f"{p}_XDR_SYDW", "事业单位证书号", FieldType.LEGACY_CODE),
        Field(f"{p}_XDR_SHZZ", "社会组织登记证号", FieldType.LEGACY_CODE),
        Field(f"{p}_FRDB", "法定代表人"),
        Field(f"{p}_FR_ZJLX", "法定代表人证件类型", FieldType.ENUM, ID_TYPES),
        Field(f"{p}_FR_ZJHM", "法定代表人证件号码", FieldType.PERSONAL_ID),
        Field(f"{p}_XDR_ZJLX", "行政相对人证件类型", FieldType.ENUM, ID_TYPES),
        Field(f"{p}_XDR_ZJHM", "行政相对人证件号码", FieldType.PERSONAL_ID),
    )


PERMIT_FIELDS: tuple[Field, ...] = (
    *_identity_block("XK"),
    Field("XK_XKWS", "行政许可决定文书名称"),
    Field("XK_WSH", "行政许可决定文书号"),
    Field("XK_XKLB", "许可类别", FieldType.ENUM, PERMIT_CATEGORIES),
    Field("XK_XKZS", "许可证书名称"),
    Field("XK_XKBH", "许可编号"),
    Field("XK_NR", "许可内容"),
    Field("XK_JDRQ", "许可决定日期", FieldType.DATE),
    Field("XK_YXQZ", "有效期自", FieldType.DATE),
    Field("XK_YXQZI", "有效期至", FieldType.DATE),
    Field("XK_XKJG", "许可机关"),
    Field("XK_XKJGDM", "许可机关统一社会信用代码", FieldType.USCC),
    Field("XK_ZT", "当前状态", FieldType.STATUS, tuple(STATUS_CODES)),
    Field("XK_LYDW", "数据来源单位"),
    Field("XK_LYDWDM", "数据来源单位统一社会信用代码", FieldType.USCC),
    Field("BZ", "备注"),
)

PENALTY_FIELDS: tuple[Field, ...] = (
    *_identity_block("CF"),
    Field("CF_WSH", "行政处罚决定书文号"),
    Field("CF_WFXW", "违法行为类型"),
    Field("CF_SY", "违法事实"),
    Field("CF_YJ", "处罚依据"),
    Field("CF_CFLB", "处罚类别", FieldType.MULTI_ENUM, PENALTY_CATEGORIES),
    Field("CF_NR", "处罚内容"),
    Field("CF_NR_FK", "罚款金额（万元）", FieldType.AMOUNT),
    Field("CF_NR_WFFF", "没收违法所得、没收非法财物的金额（万元）", FieldType.AMOUNT),
    Field("CF_NR_ZKDX", "暂扣或吊销证照名称及编号"),
    Field("CF_JDRQ", "处罚决定日期", FieldType.DATE),
    Field("CF_YXQ", "处罚有效期", FieldType.DATE),
    Field("CF_GSJZQ", "公示截止期", FieldType.DATE),
    Field("CF_CFJG", "处罚机关"),
    Field("CF_CFJGDM", "处罚机关统一社会信用代码", FieldType.USCC),
    Field("CF_ZT", "当前状态", FieldType.STATUS, tuple(STATUS_CODES)),
    Field("CF_SJLY", "数据来源单位"),
    Field("CF_SJLYDM", "数据来源单位统一社会信用代码", FieldType.USCC),
    Field("BZ", "备注"),
)

FIELDS: dict[Kind, tuple[Field, ...]] = {Kind.PERMIT: PERMIT_FIELDS, Kind.PENALTY: PENALTY_FIELDS}

# Columns every extraction SELECT returns besides canonical fields.
SOURCE_KEY = "source_key"  # the department's own primary key: makes the record id stable
SOURCE_UPDATED_AT = "updated_at"  # drives the incremental watermark
PUBLIC_CLEARED = "public_cleared"  # passed confidentiality review (先审查、后公开)
META_COLUMNS = (SOURCE_KEY, SOURCE_UPDATED_AT, PUBLIC_CLEARED)


def fields(kind: Kind | str) -> tuple[Field, ...]:
    return FIELDS[Kind(kind)]


def field_map(kind: Kind | str) -> dict[str, Field]:
    return {f.code: f for f in fields(kind)}


def label(kind: Kind | str, code: str) -> str:
    found = field_map(kind).get(code)
    return found.label if found else code


@dataclass(frozen=True)
class KeyFields:
    """Where a kind keeps the fields the pipeline itself reasons about."""

    decision_number: str
    decision_date: str
    authority: str
    authority_code: str
    status: str
    counterparty_category: str


def key_fields(kind: Kind | str) -> KeyFields:
    if Kind(kind) is Kind.PERMIT:
        return KeyFields("XK_WSH", "XK_JDRQ", "XK_XKJG", "XK_XKJGDM", "XK_ZT", "XK_XDR_LB")
    return KeyFields("CF_WSH", "CF_JDRQ", "CF_CFJG", "CF_CFJGDM", "CF_ZT", "CF_XDR_LB")


def record_id(department: str, kind: Kind | str, source_key: str) -> str:
    """Stable across content changes (a clerk may fix the decision number itself)."""
    return f"{department}/{Kind(kind).value}/{source_key}"
