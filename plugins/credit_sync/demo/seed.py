"""Two demo department databases (SQLite) with realistic 双公示 data.

The departments keep their records the way real county systems do: different table
layouts, local category codes, dates as text in their own formats, fines in 元 at one
and 万元 at the other. About one record in ten carries a defect seen in real data.
Generation is deterministic for a given anchor date, so re-seeding changes nothing.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from credit_sync.codes import org_check_char, resident_id_check_char, uscc_check_char

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英霞平刚桂英华玉兰建国志强海燕春梅立新晓东红霞文斌国庆永红"
)
TOWNS = [
    "会师镇",
    "郭城驿镇",
    "河畔镇",
    "头寨子镇",
    "太平店镇",
    "甘沟驿镇",
    "中川镇",
    "八里湾乡",
    "柴家门镇",
    "汉家岔镇",
]
TRADES = [
    ("商贸", "有限公司"),
    ("农牧", "专业合作社"),
    ("建材", "有限责任公司"),
    ("餐饮", "管理有限公司"),
    ("药业", "有限公司"),
    ("物流", "有限公司"),
    ("汽车运输", "有限公司"),
    ("食品", "有限公司"),
]
SHOPS = ["便利店", "小吃店", "副食批发部", "五金店", "农资经营部", "汽车修理部", "药店", "面馆"]
HUINING = "620422"


@dataclass
class Party:
    category: str  # 1 法人 / 2 个体 / 3 自然人 (the market department's local codes)
    name: str
    uscc: str | None
    rep: str | None
    rep_id: str | None
    person_id: str | None


def make_uscc(rng: random.Random, authority: str = "9", category: str = "1") -> str:
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    first17 = authority + category + HUINING + body + org_check_char(body)
    return first17 + uscc_check_char(first17)


def make_person_id(rng: random.Random, anchor: date) -> str:
    birth = date(1955, 1, 1) + timedelta(
        days=rng.randrange(0, (anchor - date(1955, 1, 1)).days - 18 * 365)
    )
    first17 = HUINING + birth.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return first17 + resident_id_check_char(first17)


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def make_party(rng: random.Random, anchor: date) -> Party:
    roll = rng.random()
    if roll < 0.55:
        head, tail = rng.choice(TRADES)
        name = f"会宁县{rng.choice(['金源', '宏达', '瑞丰', '陇原', '鑫盛', '恒通', '祥和', '丰泰'])}{head}{tail}"
        return Party("1", name, make_uscc(rng), person_name(rng), make_person_id(rng, anchor), None)
    if roll < 0.8:
        owner = person_name(rng)
        name = f"会宁县{rng.choice(TOWNS)}{owner}{rng.choice(SHOPS)}"
        return Party("2", name, make_uscc(rng, "9", "2"), owner, None, None)
    return Party("3", person_name(rng), None, None, None, make_person_id(rng, anchor))


def _defect(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll > 0.10:
        return None
    return rng.choice(["bad_uscc", "missing_rep", "bad_date", "fullwidth", "letter_o", "bad_id"])


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _spoil_check(code: str) -> str:
    last = code[-1]
    return code[:-1] + ("1" if last != "1" else "2")


def _timestamp(day: date, rng: random.Random) -> str:
    moment = datetime.combine(day, datetime.min.time()) + timedelta(
        minutes=rng.randrange(480, 1080)
    )
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _decision_day(rng: random.Random, anchor: date) -> date:
    # Mostly recent decisions; a few backlog ones that will be reported late.
    return anchor - timedelta(
        days=rng.randrange(1, 8) if rng.random() < 0.85 else rng.randrange(20, 200)
    )


MARKET_PERMIT_DDL = """
CREATE TABLE xk_xzxk (
    id INTEGER PRIMARY KEY, xdr_mc TEXT, xdr_lx TEXT, tyshxydm TEXT, fddbr TEXT,
    fddbr_zjlx TEXT, fddbr_zjhm TEXT, xdr_zjlx TEXT, xdr_zjhm TEXT, xkws TEXT, wsh TEXT,
    xklb TEXT, xkzs TEXT, xkbh TEXT, xknr TEXT, jdrq TEXT, yxqz TEXT, yxqzi TEXT, zt TEXT,
    gkbz INTEGER, bz TEXT, gxsj TEXT NOT NULL)
"""
MARKET_PENALTY_DDL = """
CREATE TABLE cf_ajxx (
    ajbh TEXT PRIMARY KEY, dsr_mc TEXT, dsr_lx TEXT, tyshxydm TEXT, fddbr TEXT,
    fddbr_zjlx TEXT, fddbr_zjhm TEXT, dsr_zjlx TEXT, dsr_zjhm TEXT, cfjds_wh TEXT, wfxw TEXT,
    wfss TEXT, cfyj TEXT, cflb TEXT, cfjg_nr TEXT, fkje NUMERIC, mswfsd NUMERIC, zkdx TEXT,
    cfrq TEXT, gsjzq TEXT, zt TEXT, gkbz INTEGER, gxsj TEXT NOT NULL)
"""
TRANSPORT_PERMIT_DDL = """
CREATE TABLE t_licence (
    lic_id TEXT PRIMARY KEY, holder_name TEXT, holder_type TEXT, credit_code TEXT,
    legal_person TEXT, legal_person_idno TEXT, person_idno TEXT, doc_title TEXT, doc_no TEXT,
    category TEXT, cert_name TEXT, cert_no TEXT, content TEXT, decided_on TEXT,
    valid_from TEXT, valid_to TEXT, state TEXT, review_passed TEXT, modified_at TEXT NOT NULL)
"""
TRANSPORT_PENALTY_DDL = """
CREATE TABLE t_punish (
    case_id TEXT PRIMARY KEY, party_name TEXT, party_type TEXT, credit_code TEXT,
    legal_person TEXT, legal_person_idno TEXT, person_idno TEXT, doc_no TEXT, violation TEXT,
    facts TEXT, basis TEXT, punish_types TEXT, result_text TEXT, fine_wan REAL,
    confiscated_wan REAL, licence_revoked TEXT, decided_on TEXT, publicity_until TEXT,
    state TEXT, review_passed TEXT, modified_at TEXT NOT NULL)
"""

PERMIT_ITEMS = [
    (
        "食品经营许可",
        "食品经营许可证",
        "JY1620422",
        "预包装食品（含冷藏冷冻食品）销售，散装食品销售",
    ),
    ("药品经营许可", "药品经营许可证", "甘CB9430", "中成药、化学药制剂、抗生素制剂零售"),
    ("特种设备使用登记", "特种设备使用登记证", "容3LG甘D", "压力容器使用登记"),
    ("食品生产许可", "食品生产许可证", "SC1066204", "粮食加工品（挂面）生产"),
]
MARKET_VIOLATIONS = [
    (
        "销售过期食品",
        "当事人经营的超市货架上摆放超过保质期的食品用于销售",
        "《中华人民共和国食品安全法》第一百二十四条第一款第（五）项",
        "1",
        2000,
    ),
    (
        "未按规定公示营业执照",
        "当事人未将营业执照置于住所的醒目位置",
        "《中华人民共和国市场主体登记管理条例》第四十八条",
        "0",
        0,
    ),
    (
        "销售不合格产品",
        "当事人销售经抽检不合格的电线电缆产品",
        "《中华人民共和国产品质量法》第四十九条",
        "1,2",
        15000,
    ),
    (
        "虚假宣传",
        "当事人在店铺门头宣传“全县最低价”无事实依据",
        "《中华人民共和国反不正当竞争法》第二十条",
        "1",
        5000,
    ),
]
TRANSPORT_VIOLATIONS = [
    (
        "未取得道路运输经营许可擅自从事道路运输经营",
        "当事人驾驶小型客车从事非法营运",
        "《中华人民共和国道路运输条例》第六十三条",
        "FK;MS",
        1.0,
        0.05,
    ),
    (
        "超限运输",
        "当事人驾驶重型货车超限运输，超限率28%",
        "《公路安全保护条例》第六十四条",
        "FK",
        0.3,
        None,
    ),
    (
        "未按规定携带道路运输证",
        "当事人驾驶营运货车未随车携带道路运输证",
        "《中华人民共和国道路运输条例》第六十八条",
        "JG",
        None,
        None,
    ),
    (
        "客运车辆不按批准的客运站点停靠",
        "当事人驾驶班线客车未按批准站点停靠",
        "《中华人民共和国道路运输条例》第七十条",
        "FK;ZK",
        0.1,
        None,
    ),
]


def _apply_party_defect(defect: str | None, party: Party, rng: random.Random) -> Party:
    if defect == "bad_uscc" and party.uscc:
        party.uscc = _spoil_check(party.uscc)
    elif defect == "letter_o" and party.uscc:
        i = rng.randrange(2, 8)  # a zero in the division code typed as the letter O
        party.uscc = party.uscc[:i] + "O" + party.uscc[i + 1 :]
    elif defect == "fullwidth" and party.uscc:
        party.uscc = " " + _fullwidth(party.uscc.lower()) + " "
    elif defect == "missing_rep" and party.category == "1":
        party.rep = None
        party.rep_id = None
    elif defect == "bad_id":
        if party.person_id:
            party.person_id = _spoil_check(party.person_id)
        elif party.rep_id:
            party.rep_id = _spoil_check(party.rep_id)
    return party


def seed_market(path: Path, anchor: date, permits: int = 150, penalties: int = 100) -> None:
    rng = random.Random(f"scjg-{anchor.isoformat()}")
    with sqlite3.connect(path) as db:
        db.execute(MARKET_PERMIT_DDL)
        db.execute(MARKET_PENALTY_DDL)
        for i in range(1, permits + 1):
            defect = _defect(rng)
            party = _apply_party_defect(defect, make_party(rng, anchor), rng)
            day = _decision_day(rng, anchor)
            ws, zs, prefix, nr = rng.choice(PERMIT_ITEMS)
            jdrq = f"{day.year}-02-30" if defect == "bad_date" else day.isoformat()
            end = day.replace(year=day.year + 5) if rng.random() < 0.8 else date(2099, 12, 31)
            db.execute(
                "INSERT INTO xk_xzxk VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    i,
                    party.name,
                    party.category,
                    party.uscc,
                    party.rep,
                    "01" if party.rep_id else None,
                    party.rep_id,
                    "01" if party.person_id else None,
                    party.person_id,
                    f"{ws}决定书",
                    f"会市监许〔{day.year}〕{i:04d}号",
                    "05" if "登记" in ws else "01",
                    zs,
                    f"{prefix}{rng.randrange(10**7):07d}",
                    nr,
                    jdrq,
                    day.isoformat(),
                    end.isoformat(),
                    "0",
                    1 if rng.random() < 0.95 else 0,
                    None,
                    _timestamp(day, rng),
                ),
            )
        for i in range(1, penalties + 1):
            defect = _defect(rng)
            party = _apply_party_defect(defect, make_party(rng, anchor), rng)
            day = _decision_day(rng, anchor)
            wfxw, wfss, yj, cflb, fine = rng.choice(MARKET_VIOLATIONS)
            if defect == "bad_date":
                cfrq = f"{day.year}年13月{day.day}日"
            else:
                cfrq = day.isoformat() if rng.random() < 0.5 else day.strftime("%Y/%m/%d")
            result = (
                "警告"
                if cflb == "0"
                else f"罚款{fine}元" + ("，没收违法所得" if "2" in cflb else "")
            )
            db.execute(
                "INSERT INTO cf_ajxx VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    f"HNSJ{day.year}{i:05d}",
                    party.name,
                    party.category,
                    party.uscc,
                    party.rep,
                    "01" if party.rep_id else None,
                    party.rep_id,
                    "01" if party.person_id else None,
                    party.person_id,
                    f"会市监处罚〔{day.year}〕{i:03d}号",
                    wfxw,
                    wfss,
                    yj,
                    cflb,
                    result,
                    fine or None,
                    800 if "2" in cflb else None,
                    None,
                    cfrq,
                    None,
                    "1" if rng.random() < 0.03 else "0",
                    1 if rng.random() < 0.95 else 0,
                    _timestamp(day, rng),
                ),
            )


TRANSPORT_TYPES = {"1": "企业", "2": "个体", "3": "个人"}


def seed_transport(path: Path, anchor: date, permits: int = 80, penalties: int = 70) -> None:
    rng = random.Random(f"jtys-{anchor.isoformat()}")
    with sqlite3.connect(path) as db:
        db.execute(TRANSPORT_PERMIT_DDL)
        db.execute(TRANSPORT_PENALTY_DDL)
        for i in range(1, permits + 1):
            defect = _defect(rng)
            party = _apply_party_defect(defect, make_party(rng, anchor), rng)
            day = _decision_day(rng, anchor)
            decided = f"{day.year}年{day.month:02d}月{day.day:02d}日"
            if defect == "bad_date":
                decided = f"{day.year}年02月30日"
            category, title, cert = rng.choice(
                [
                    ("普通许可", "道路运输经营许可", "道路运输经营许可证"),
                    ("资格认可", "道路运输从业人员从业资格", "从业资格证"),
                    ("普通许可", "公路超限运输许可", "超限运输车辆通行证"),
                ]
            )
            db.execute(
                "INSERT INTO t_licence VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    f"JT-XK-{day.year}-{i:04d}",
                    party.name,
                    TRANSPORT_TYPES[party.category],
                    party.uscc,
                    party.rep,
                    party.rep_id,
                    party.person_id,
                    f"{title}决定书",
                    f"会交运许字〔{day.year}〕第{i:03d}号",
                    category,
                    cert,
                    f"甘交运管许可白字620422{rng.randrange(10**6):06d}号",
                    f"准予{title}",
                    decided,
                    day.strftime("%Y/%m/%d"),
                    "2099/12/31"
                    if "资格" in title
                    else day.replace(year=day.year + 4).strftime("%Y/%m/%d"),
                    "有效",
                    "Y" if rng.random() < 0.9 else "N",
                    _timestamp(day, rng),
                ),
            )
        for i in range(1, penalties + 1):
            defect = _defect(rng)
            party = _apply_party_defect(defect, make_party(rng, anchor), rng)
            day = _decision_day(rng, anchor)
            violation, facts, basis, types, fine, conf = rng.choice(TRANSPORT_VIOLATIONS)
            decided = datetime.combine(day, datetime.min.time()).replace(hour=10)
            decided_text = decided.strftime("%Y-%m-%d %H:%M:%S")
            if defect == "bad_date":
                decided_text = f"{day.year}-04-31 10:00:00"
            result = "；".join(
                filter(
                    None,
                    [
                        f"罚款人民币{fine * 10000:.0f}元" if fine else None,
                        "没收违法所得" if "MS" in types else None,
                        "警告" if types == "JG" else None,
                        "暂扣道路运输证" if "ZK" in types else None,
                    ],
                )
            )
            db.execute(
                "INSERT INTO t_punish VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    f"JTCF{day:%Y%m}{i:04d}",
                    party.name,
                    TRANSPORT_TYPES[party.category],
                    party.uscc,
                    party.rep,
                    party.rep_id,
                    party.person_id,
                    f"会交执罚〔{day.year}〕{i:04d}号",
                    violation,
                    facts,
                    basis,
                    types,
                    result,
                    fine,
                    conf,
                    "道路运输证" if "ZK" in types else None,
                    decided_text,
                    None,
                    "有效",
                    "Y" if rng.random() < 0.9 else "N",
                    _timestamp(day, rng),
                ),
            )


def seed(directory: Path, anchor: date) -> dict[str, Path]:
    """Create the demo department databases once; an existing database is left alone."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"scjg": directory / "scjg.db", "jtys": directory / "jtys.db"}
    for code, build in (("scjg", seed_market), ("jtys", seed_transport)):
        if not paths[code].exists():
            tmp = paths[code].with_suffix(".tmp")
            tmp.unlink(missing_ok=True)
            build(tmp, anchor)
            tmp.rename(paths[code])
    return paths
