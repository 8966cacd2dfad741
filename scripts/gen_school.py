#!/usr/bin/env python3
"""A school's worth of fee bills: N students (default 30,000) as import files for campus-pay.

Writes, into OUT_DIR (default .local/school-<N>):
  fee-bill-NN.csv        收费名单, one row per student and fee item, at most --rows-per-file rows
                         each (the import takes up to 10,000), a student's rows in one file
  offline-payments.csv   线下缴费 of some students (--offline-share, default 5 %): each pays one
                         or two of their items in full at the finance office or by transfer
Every file uses the import's own header names (docs/operators-design.md, "Fee-bill import").

What is in it, drawn from a seeded generator (same N and --seed, same bytes):
- student numbers: admission year + college (2 digits) + serial, e.g. 2024070123;
- ID-card numbers with valid birth dates and check characters (GB 11643-1999, ISO 7064
  MOD 11-2), region codes mostly in Gansu, genders mixed (the 17th digit);
- Chinese names: a surname from the common ones, a given name of one or two characters;
- per student 1-3 academic years (their cohort's years up to the current one), 2-4 fee items
  each: 学费 (学费 type) and some of 教材费, 考试费, 学籍注册费, 毕业论文指导费 (其他);
- windows: past years closed (their window ended), the current year open now, a few not yet
  open; about 1 in 12 items in 停止;
- class names such as 2024级会计学(专升本)函授, and mobile numbers.

usage: gen_school.py [--students 30000] [--seed 1] [--out DIR] [--rows-per-file 10000]
       [--offline-share 0.05] [--today 2026-12-04]
Prints the files written and their row counts.
"""
import argparse
import csv
import datetime as dt
import os
import random

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉鹏飞宇浩然思雨欣怡子涵梓轩嘉琪晨曦佳颖志国海燕丹凤兰春梅雪莲婷晓东立新宏伟永福德胜")
# Region codes (the first 6 ID digits): Gansu's prefectures mostly, some from elsewhere.
GANSU = ["620102", "620103", "620104", "620105", "620111", "620121", "620122", "620123", "620201",
         "620302", "620402", "620421", "620502", "620521", "620602", "620621", "620702", "620721",
         "620802", "620821", "620902", "620921", "621002", "621021", "621102", "621121", "621202",
         "621221", "622901", "622921", "623001", "623021"]
ELSEWHERE = ["110105", "310104", "410102", "510104", "610113", "630102", "640104", "650102"]
MAJORS = ["会计学", "汉语言文学", "行政管理", "计算机科学与技术", "土木工程", "护理学", "法学",
          "工商管理", "电气工程及其自动化", "学前教育", "机械设计制造及其自动化", "药学"]
LEVELS = ["专升本", "高起专", "高起本"]
MODES = ["函授", "业余", "函授", "脱产"]
# (code, name, type, low yuan, high yuan, share of student-years that have it)
ITEMS = [
    ("TUITION", "学费", "学费", 2400, 4800, 1.0),
    ("BOOKS", "教材费", "其他", 280, 650, 0.8),
    ("EXAM", "考试费", "其他", 80, 240, 0.5),
    ("REGISTER", "学籍注册费", "其他", 50, 120, 0.3),
    ("THESIS", "毕业论文指导费", "其他", 300, 600, 0.2),
]
CHECK = "10X98765432"
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
FEE_BILL = ["学号", "姓名", "身份证号", "学年", "收费项目代码", "收费项目", "收费类型", "应缴金额",
            "收费开始", "收费结束", "状态", "班级", "手机号"]
OFFLINE = ["学号", "学年", "收费项目代码", "金额", "缴费方式", "凭证号", "缴费时间", "票据号"]


def id_card(rng, male: bool) -> str:
    region = rng.choice(GANSU) if rng.random() < 0.85 else rng.choice(ELSEWHERE)
    birth = dt.date(1972, 1, 1) + dt.timedelta(days=rng.randrange(365 * 34))
    seq = rng.randrange(100)
    gender = rng.choice("13579" if male else "02468")
    first17 = f"{region}{birth:%Y%m%d}{seq:02d}{gender}"
    return first17 + CHECK[sum(int(c) * w for c, w in zip(first17, WEIGHTS)) % 11]


def name(rng) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def phone(rng) -> str:
    return rng.choice(["13", "15", "17", "18", "19"]) + f"{rng.randrange(10**9):09d}"


def current_year(today: dt.date) -> int:
    """The academic year running on `today` starts in September."""
    return today.year if today.month >= 9 else today.year - 1


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def students(n: int, rng, today: dt.date):
    """Yields (student number, name, ID number, class, phone, [(year, window start, window end)])."""
    now = current_year(today)
    serial = {}
    for _ in range(n):
        cohort = now - rng.choice((0, 0, 1, 1, 2))
        college = rng.randrange(1, 13)
        serial[(cohort, college)] = serial.get((cohort, college), 0) + 1
        no = f"{cohort}{college:02d}{serial[(cohort, college)]:04d}"
        male = rng.random() < 0.5
        level = rng.choice(LEVELS)
        years = list(range(cohort, now + 1))[:3]
        klass = f"{cohort}级{MAJORS[college - 1]}({level}){rng.choice(MODES)}"
        yield no, name(rng), id_card(rng, male), klass, phone(rng), years


def rows_of(rng, student, today):
    no, nm, idc, klass, tel, years = student
    now = current_year(today)
    for year in years:
        start, end = dt.date(year, 9, 1), dt.date(year + 1, 8, 31)
        if year == now and rng.random() < 0.05:
            start = today + dt.timedelta(days=rng.randrange(5, 40))  # opens later
        if year < now:
            end = dt.date(year + 1, 1, 15)  # an earlier year's window has closed
        picked = [it for it in ITEMS if rng.random() < it[5]]
        while len(picked) < 2:
            extra = rng.choice(ITEMS[1:])
            if extra not in picked:
                picked.append(extra)
        for code, item, kind, low, high, _ in picked[:4]:
            due = rng.randrange(low, high + 1) * 100 + rng.choice((0, 0, 0, 50))
            status = "停止" if rng.random() < 1 / 12 else "收费"
            yield {"学号": no, "姓名": nm, "身份证号": idc, "学年": f"{year}-{year + 1}", "收费项目代码": code,
                   "收费项目": item, "收费类型": kind, "应缴金额": yuan(due), "收费开始": start.isoformat(),
                   "收费结束": end.isoformat(), "状态": status, "班级": klass, "手机号": tel}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--rows-per-file", type=int, default=10_000)
    ap.add_argument("--offline-share", type=float, default=0.05)
    ap.add_argument("--today", type=dt.date.fromisoformat, default=dt.date.today())
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = args.out or os.path.join(".local", f"school-{args.students}")
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        if old.endswith(".csv"):
            os.remove(os.path.join(out, old))

    files, current, writer, count = [], None, None, 0
    offline, total_rows = [], 0

    def open_next():
        nonlocal current, writer, count
        if current:
            current.close()
        path = os.path.join(out, f"fee-bill-{len(files) + 1:02d}.csv")
        current = open(path, "w", newline="", encoding="utf-8")
        writer = csv.DictWriter(current, FEE_BILL)
        writer.writeheader()
        files.append([path, 0])
        count = 0

    open_next()
    for student in students(args.students, rng, args.today):
        rows = list(rows_of(rng, student, args.today))
        if count + len(rows) > args.rows_per_file:
            open_next()
        writer.writerows(rows)
        count += len(rows)
        files[-1][1] += len(rows)
        total_rows += len(rows)
        payable = [r for r in rows if r["状态"] == "收费" and r["收费开始"] <= args.today.isoformat()]
        if payable and rng.random() < args.offline_share:
            offline.append((rows[0]["学号"], rng.sample(payable, min(len(payable), rng.choice((1, 2))))))
    current.close()

    path = os.path.join(out, "offline-payments.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, OFFLINE)
        w.writeheader()
        n_rows = 0
        for i, (no, items) in enumerate(offline):
            method = rng.choice(["银行转账", "现金", "POS刷卡", "银行转账"])
            start = max(dt.date.fromisoformat(items[0]["收费开始"]), args.today - dt.timedelta(days=60))
            paid = dt.datetime.combine(start, dt.time(9)) + dt.timedelta(minutes=rng.randrange(60 * 24 * max(1, (args.today - start).days)))
            paid = min(paid, dt.datetime.combine(args.today, dt.time(0)) - dt.timedelta(minutes=1))
            for r in items:
                w.writerow({"学号": no, "学年": r["学年"], "收费项目代码": r["收费项目代码"], "金额": r["应缴金额"],
                            "缴费方式": method, "凭证号": f"YH-{paid:%Y}-{i + 1:06d}", "缴费时间": f"{paid:%Y-%m-%d %H:%M}",
                            "票据号": f"GS{paid:%Y}{i + 1:06d}"})
                n_rows += 1
    for p, n in files:
        print(f"{p}\t{n} rows")
    print(f"{path}\t{n_rows} rows ({len(offline)} payments)")
    print(f"{args.students} students, {total_rows} fee items")


if __name__ == "__main__":
    main()
