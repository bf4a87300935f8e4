#!/usr/bin/env python3
"""Regenerate the Hugging Face `tokenizers` reference fixtures for Koinon's BPE tokenizer tests.

Run from the repository root (CPU only, a few seconds; needs Python >= 3.8 and `tokenizers`,
which `pip install tokenizers` or `pip install transformers` provides):

    python3 scripts/make_tokenizer_fixtures.py [--shakespeare PATH]

PATH defaults to the first existing of shared/data/tinyshakespeare.txt,
../shared/data/tinyshakespeare.txt and /work/shared/data/tinyshakespeare.txt. Everything is
deterministic (fixed seeds, no clock, no environment dependence); generated with Python 3.11.7
and tokenizers 0.23.3. The script DELETES and rewrites Tests/TokenizerTests/Fixtures/:

  shakespeare-1k/vocab.json, merges.txt   vocab_size 1000, trained on all of tiny Shakespeare
  mixed-2k/vocab.json, merges.txt         vocab_size 2000, trained on MIXED_CORPUS (below):
                                          the first 40,000 characters of tiny Shakespeare plus
                                          ~15 KB of text in many scripts, emoji, math
                                          alphanumerics, source code and whitespace-heavy text
                                          written inline in this file, each section 4 times
  cases.json       [{"name": str, "text": str}, ...]   (UTF-8, ensure_ascii=False)
  expected.json    {"shakespeare-1k": [[int], ...], "mixed-2k": [[int], ...]}: the token ids
                   of every case, in cases.json order, for each vocabulary

Hugging Face options used, exactly:

  Training (one fresh tokenizer per vocabulary):
      tok = tokenizers.ByteLevelBPETokenizer(add_prefix_space=False)
      # i.e. lowercase=False, dropout=None, unicode_normalizer=None,
      # continuing_subword_prefix=None, end_of_word_suffix=None, trim_offsets=False
      tok.train_from_iterator(corpus, vocab_size=V, min_frequency=2,
                              special_tokens=["<|endoftext|>"], show_progress=False)
      # (BpeTrainer with initial_alphabet = pre_tokenizers.ByteLevel.alphabet(), limit_alphabet
      #  None). `corpus` is a Python list of strings; HF pre-tokenizes every list item on its
      #  own (ByteLevel pre-tokenizer: GPT-2 regex, add_prefix_space=False, use_regex=True) and
      #  counts the resulting words. shakespeare-1k: corpus = [whole file as one string].
      #  mixed-2k: corpus = [shakespeare[:40000]] + 4 copies of every MIXED_CORPUS section,
      #  one list item per copy.
      tok.save_model(dir)   # writes vocab.json (token -> id) and merges.txt
  Resulting vocabulary layout: id 0 = "<|endoftext|>", ids 1..256 = the 256 byte symbols of
  GPT-2's byte-to-unicode table sorted by code point of the mapped character (so "!" is 1 and
  "Ġ" (space) is 221, NOT GPT-2's byte order), then one id per merge in merges.txt order.
  merges.txt: first line "#version: 0.2", then one "left right" pair per line, rank order.

  Encoding (what expected.json holds):
      tok = tokenizers.ByteLevelBPETokenizer(vocab_json_path, merges_txt_path,
                                             add_prefix_space=False)
      tok.add_special_tokens(["<|endoftext|>"])
      ids = tok.encode(text).ids
  No normalizer; ByteLevel pre-tokenizer (add_prefix_space=False, use_regex=True); BPE without
  dropout, unk, byte fallback or suffix/prefix; ByteLevel post-processor (changes offsets
  only, adds no tokens). The literal "<|endoftext|>" anywhere in the text becomes its single
  id (it is split out of the raw text before the regex runs); "<|endoftext" without "|>" is
  ordinary text.
  Round trip: the script checks tok.decode(ids, skip_special_tokens=False) == text for every
  case and prints the cases where it does not hold (none with tokenizers 0.23.3). Note that
  HF's default decode(ids) has skip_special_tokens=True and drops "<|endoftext|>".

  Training-time caveat: during train_from_iterator the special token is NOT split out of the
  training text (HF registers it only after training), so a literal "<|endoftext|>" in a
  training corpus is counted as ordinary text. None of the corpora here contain it.

Random cases (fixed seeds): 12 strings of random bytes decoded with
bytes.decode("utf-8", errors="replace"), and 200 strings of 1-40 random code points drawn from
all planes (ASCII, BMP, SMP, SIP/TIP, planes 4-13, tags, private use, noncharacters;
surrogates excluded). To keep the fixtures independent of the Unicode version that the Swift
standard library and HF's Oniguruma regex tables use, a code point is only drawn if (a) it is
assigned in Python's unicodedata (Unicode 14.0) or is permanently unassigned (planes 4-13,
noncharacters), and (b) its regex class (\\p{L}, \\p{N}, \\s, other) seen by HF's pre-tokenizer
equals its class from Unicode 14.0 data. (HF's Oniguruma already knows characters added in
Unicode 15-16, e.g. U+11F04 KAWI or U+1C89 CYRILLIC TJE are letters there.)
"""

import argparse
import json
import os
import random
import shutil
import sys
import unicodedata

import tokenizers
from tokenizers import ByteLevelBPETokenizer, pre_tokenizers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, "Tests", "TokenizerTests", "Fixtures")
SPECIAL = "<|endoftext|>"
VOCABS = [("shakespeare-1k", 1000), ("mixed-2k", 2000)]

# --------------------------------------------------------------------------------------------
# Inline multilingual corpus (training text for mixed-2k; also the source of several cases).
# --------------------------------------------------------------------------------------------

LATIN = """\
Français : Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë au delà des îles, près du mälström où brûlent les novæ. À l'école, où j'étais élève, on apprenait « les règles de l'accord du participe passé ». Ça m'a beaucoup aidé.
Deutsch: Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich. Falsches Üben von Xylophonmusik quält jeden größeren Zwerg. Die Straße heißt Äußere Mühlgasse, Hausnummer 17ß.
Español: El pingüino Wenceslao hizo kilómetros bajo exhaustiva lluvia y frío, añoraba a su querido cachorro. ¿Dónde está la niña? ¡Qué sorpresa! Año, señor, corazón, acción.
Português: Luís argüia à Júlia que «brações, fé, chá, óxido, pôr, zângão» eram palavras do português. Não há coração sem razão; a situação é difícil, mas não impossível.
Polski: Pchnąć w tę łódź jeża lub ośm skrzyń fig. Zażółć gęślą jaźń. Źdźbło trawy, żółw i śnieg w Łodzi.
Čeština: Příliš žluťoučký kůň úpěl ďábelské ódy. Nechť již hříšné saxofony ďáblů rozezvučí síň úděsnými tóny waltzu, tanga a quickstepu.
Tiếng Việt: Tôi có thể ăn thủy tinh mà không hại gì. Người Việt Nam nói tiếng Việt; chữ Quốc ngữ dùng nhiều dấu thanh: à á ả ã ạ ằ ắ ẳ ẵ ặ ề ế ể ễ ệ ờ ớ ở ỡ ợ ừ ứ ử ữ ự.
Türkçe: Pijamalı hasta yağız şoföre çabucak güvendi. İstanbul'da ılık bir sabah, Iğdır'dan gelen öğrenciler çay içtiler.
Íslenska: Kæmi ný öxi hér, ykist þjófum nú bæði víl og ádrepa. Þórður og Ðóra fóru í ferð.
Română: Înjurând pițigăiat, zoofobul comandă vexat whisky și tequila. Hungarian: Árvíztűrő tükörfúrógép. Dansk: Høj bly gom vandt fræk sexquiz på wc. Latviešu: Glāžšķūņa rūķīši dzērumā čiepj Baha koncertflīģeļu vākus.
Decomposed (NFD) forms: e\u0301te\u0301, cafe\u0301, na\u0131\u0308ve, A\u030angstro\u0308m, n\u0303, Z\u030c, o\u0328\u0301.
"""

GREEK = """\
Ελληνικά: Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο. Στο άλσος της Ακαδημίας οι φιλόσοφοι συζητούσαν για την αρετή, τη δικαιοσύνη και την αλήθεια. Μπορώ να φάω σπασμένα γυαλιά χωρίς να πάθω τίποτα.
Πολυτονικό: Ἐν ἀρχῇ ἦν ὁ λόγος, καὶ ὁ λόγος ἦν πρὸς τὸν θεόν, καὶ θεὸς ἦν ὁ λόγος. Ἄνδρα μοι ἔννεπε, Μοῦσα, πολύτροπον, ὃς μάλα πολλὰ πλάγχθη. Γνῶθι σεαυτόν· μηδὲν ἄγαν.
Μαθηματικά: α + β = γ, Δx → 0, σ² = Σ(xᵢ − μ)² / N, ω = 2πf, λ = c / ν, ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ αβγδεζηθικλμνξοπρσςτυφχψω.
"""

CYRILLIC = """\
Русский: Съешь же ещё этих мягких французских булок, да выпей чаю. В чащах юга жил бы цитрус? Да, но фальшивый экземпляр! Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный — пора, красавица, проснись.
Я могу есть стекло, оно мне не вредит. Москва, Санкт-Петербург, Новосибирск, Екатеринбург. ЁЛКА, ёжик, ЪЫЬЭЮЯ, объявление, подъезд.
Українська: Чуєш їх, доцю, га? Кумедна ж ти, прощайся без ґольфів! Жебракують філософи при ґанку церкви в Гадячі, ще й шатро їхнє п'яне знаємо.
Български: Жълтата дюля беше щастлива, че пухът, който цъфна, замръзна като гьон. Српски: Љубазни фењерџија чађавог лица хоће да ми покаже штос. Қазақша: Қазақстан, Әлем, Ғылым, Үміт, Өнер, Ұлт, Һ, І.
"""

ARABIC = """\
العربية: نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق. اللغة العربية من أكثر اللغات انتشارا في العالم، ويتحدث بها أكثر من أربعمائة مليون إنسان.
بالتشكيل: كَتَبَ الطَّالِبُ الدَّرْسَ فِي المَدْرَسَةِ. بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ. أنا قادر على أكل الزجاج و هذا لا يؤلمني.
الأرقام: ٠١٢٣٤٥٦٧٨٩ و ۰۱۲۳۴۵۶۷۸۹ و 2024؛ السعر ١٢٫٥٠ دينار؟ نعم! فارسی: من می‌توانم بدون احساس درد شیشه بخورم. اردو: میں کانچ کھا سکتا ہوں اور مجھے تکلیف نہیں ہوتی۔
"""

HEBREW = """\
עברית: דג סקרן שט בים מאוכזב ולפתע מצא חברה. אני יכול לאכול זכוכית וזה לא מזיק לי. עברית היא שפה שמית מקבוצת השפות הכנעניות.
ניקוד: בְּרֵאשִׁית בָּרָא אֱלֹהִים אֵת הַשָּׁמַיִם וְאֵת הָאָרֶץ. וְהָאָרֶץ הָיְתָה תֹהוּ וָבֹהוּ. שָׁלוֹם עֲלֵיכֶם.
מעורב: גרסה 3.14 של Python יצאה ב־2024, ו־"שלום world" הוא מחרוזת דו־כיוונית. ײדיש: איך קען עסן גלאָז און עס טוט מיר נישט װײ.
"""

DEVANAGARI = """\
हिन्दी: ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम, अयोध्या के महाराज दशरथ के बड़े सपुत्र थे। हिन्दी भारत की राजभाषा है। मैं काँच खा सकता हूँ और मुझे उससे कोई चोट नहीं पहुंचती।
संस्कृतम्: संस्कृतम् जगतः एकतमा अतिप्राचीना समृद्धा शास्त्रीया च भाषासु वर्तते। क्षत्रिय ज्ञान श्रृंगार द्वार ॐ नमः शिवाय। धर्मक्षेत्रे कुरुक्षेत्रे समवेता युयुत्सवः।
मराठी: मी काच खाऊ शकतो, मला ते दुखत नाही। अंक: ०१२३४५६७८९, १९४७, २०२४। नेपाली: म काँच खान सक्छु र मलाई केहि नी हुन्‍न्।
বাংলা: আমি কাঁচ খেতে পারি, তাতে আমার কোনো ক্ষতি হয় না। தமிழ்: நான் கண்ணாடி சாப்பிடுவேன், அதனால் எனக்கு ஒரு கேடும் வராது.
"""

THAI = """\
ภาษาไทย: เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน จงฝ่าฟันพัฒนาวิชาการ อย่าล้างผลาญฤๅเข่นฆ่าบีฑาใคร ไม่ถือโทษโกรธแช่งซัดฮึดฮัดด่า หัดอภัยเหมือนกีฬาอัชฌาสัย
ฉันกินกระจกได้ แต่มันไม่ทำให้ฉันเจ็บ ภาษาไทยเป็นภาษาราชการของประเทศไทย ตัวเลขไทย: ๐๑๒๓๔๕๖๗๘๙ กรุงเทพมหานคร ๒๕๖๗
ລາວ: ຂ້ອຍກິນແກ້ວໄດ້ໂດຍທີ່ມັນບໍ່ໄດ້ເຮັດໃຫ້ຂ້ອຍເຈັບ. ខ្មែរ: ខ្ញុំអាចញុំកញ្ចក់បាន ដោយគ្មានបញ្ហា
"""

CJK = """\
中文：天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。寒来暑往，秋收冬藏。我能吞下玻璃而不伤身体。中华人民共和国是世界上人口最多的国家之一。
繁體：機器學習與自然語言處理是人工智慧的重要分支。我能吞下玻璃而不傷身體。臺灣、香港、澳門。龍龜鬱齉。
混合：模型在2024年达到了95.3%的准确率（比去年提高了12个百分点），详见《报告》第3章、附录A。“引号”和‘单引号’以及……省略号——破折号。
扩展区：𠀀𠀁𠀂 𪚥 𡘙 𤴓 𠮷野家 𩸽 丽 丸 乁（兼容表意文字）。
"""

JAPANESE = """\
日本語：いろはにほへと ちりぬるを わかよたれそ つねならむ うゐのおくやま けふこえて あさきゆめみし ゑひもせす。
私はガラスを食べられます。それは私を傷つけません。カタカナとひらがなと漢字を組み合わせて書きます。東京都渋谷区、大阪府、北海道。
半角カナ：ｶﾀｶﾅ ﾊﾝｶｸ ｺﾝﾋﾟｭｰﾀｰ。全角英数：ＡＢＣ１２３ａｂｃ！？。濁点：が ぎ ぐ げ ご パ ピ プ ペ ポ ヴ、結合形：か\u3099 は\u309a。
"""

HANGUL = """\
한국어: 키스의 고유조건은 입술끼리 만나야 하고 특별한 기술은 필요치 않다. 다람쥐 헌 쳇바퀴에 타고파. 나는 유리를 먹을 수 있어요. 그래도 아프지 않아요.
한국어는 한글로 씁니다. 서울특별시, 부산광역시, 대한민국. 훈민정음: 나랏말싸미 듕귁에 달아 문자와로 서르 사맛디 아니할쎄.
조합형 자모: \u1112\u1161\u11ab\u1100\u1173\u11af, 호환 자모: ㄱ ㄴ ㄷ ㄹ ㅁ ㅂ ㅅ ㅇ ㅈ ㅊ ㅋ ㅌ ㅍ ㅎ ㅏ ㅑ ㅓ ㅕ.
"""

EMOJI = (
    "Emoji: 😀 😃 😄 😁 😆 😅 🤣 😂 🙂 🙃 😉 😊 😇 🥰 😍 🤩 😘 🎉 🔥 ✨ 🚀 💯 ❤️ ✅ ❌ ⭐ ☕\n"
    "Skin tones: 👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿 👋🏽 🙏🏿 💪🏻 🤝🏼\n"
    "ZWJ: 👨\u200d👩\u200d👧\u200d👦 👩\u200d💻 👩🏽\u200d💻 🧑\u200d🤝\u200d🧑 👨\u200d❤\ufe0f\u200d👨 "
    "🏳\ufe0f\u200d🌈 🏴\u200d☠\ufe0f 🐕\u200d🦺 😶\u200d🌫\ufe0f 🧔\u200d♀\ufe0f\n"
    "Flags: 🇺🇸 🇯🇵 🇩🇪 🇧🇷 🇮🇳 🇫🇷 🇬🇧 🇰🇷 🇺🇦 🇪🇺 "
    "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F "
    "🏴\U000E0067\U000E0062\U000E0077\U000E006C\U000E0073\U000E007F\n"
    "Keycaps: 1\ufe0f\u20e3 2\ufe0f\u20e3 #\ufe0f\u20e3 *\ufe0f\u20e3; text vs emoji style: ☺ ☺\ufe0f ♥ ♥\ufe0e\n"
    "In text: Great job!🎉🎉 See you soon 👋, love ❤️❤️ from 🇨🇦 (it's 🔥).\n"
)


def _math_alnum():
    out = []
    # Bold, italic, bold italic, script, fraktur, double-struck, sans, monospace capitals and
    # small letters (U+1D400 + 52*k), then the mathematical digits U+1D7CE..U+1D7FF.
    for k in range(13):
        base = 0x1D400 + 52 * k
        word = []
        for i in range(52):
            c = chr(base + i)
            if unicodedata.category(c) != "Cn":  # skip the holes (filled by ℎ, ℬ, ...)
                word.append(c)
        out.append("".join(word[:26]) + " " + "".join(word[26:]))
    out.append("".join(chr(c) for c in range(0x1D7CE, 0x1D800)))
    out.append(
        "𝐄 = 𝑚𝑐² and 𝑓(𝑥) = 𝑎𝑥² + 𝑏𝑥 + 𝑐; ∀𝑥 ∈ ℝ: 𝑥² ≥ 0; ∑ᵢ 𝑎ᵢ ≤ ∫₀^∞ 𝑓(𝑥) d𝑥; "
        "√2 ≈ 1.41421356; 𝔽₂, ℤ, ℚ, ℂ, ℍ, ℵ₀, ∂𝑓/∂𝑥, ∇·𝐄 = ρ/ε₀, 𝛼 𝛽 𝛾 𝛿 𝜀, 𝟙 𝟚 𝟛."
    )
    return "Math alphanumerics:\n" + "\n".join(out) + "\n"


MATH = _math_alnum()

CODE = '''\
# Python
def fib(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

if __name__ == "__main__":
    print(f"{fib(10)=}", [x ** 2 for x in range(10) if x % 2 == 0])
    d = {'key': "value", "n": 3.14e-10, 'ok': True, 'none': None}

/* C */
#include <stdio.h>
#include <stdint.h>
static int64_t sum(const int32_t *xs, size_t n) {
\tint64_t s = 0;
\tfor (size_t i = 0; i < n; ++i) { s += xs[i]; }
\treturn s;
}
int main(int argc, char **argv) {
\tprintf("%s: %lld\\n", argv[0], (long long)sum(NULL, 0));
\treturn argc > 1 ? 1 : 0;
}

// Swift
struct Point: Hashable, Codable {
    var x: Double
    var y: Double
    static func + (l: Point, r: Point) -> Point { Point(x: l.x + r.x, y: l.y + r.y) }
}
let points = [Point(x: 1, y: 2), Point(x: -3.5, y: 4e2)]
guard let first = points.first else { fatalError("empty") }
print("\\(first) \\(points.map { $0.x }.reduce(0, +))")

// Rust
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let v: Vec<u32> = (0..10).filter(|x| x % 3 == 0).collect();
    println!("{:?} {}", v, v.iter().sum::<u32>());
    Ok(())
}

// JavaScript
const add = (a, b) => a + b;
export async function load(url) { const r = await fetch(url); return r.ok ? r.json() : null; }
console.log(`sum=${add(1, 2)}`, [1, 2, 3].map((x) => x * 2), {a: 1, 'b-c': [null]});

{"name": "koinon", "version": "0.1.0", "tags": ["bpe", "gpt-2"], "nested": {"a": [1, 2.5, -3e8], "b": null, "c": true}}

SELECT u.id, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id WHERE o.total >= 100.00 GROUP BY u.id HAVING n > 2 ORDER BY n DESC;

#!/bin/sh
set -eu
for f in *.txt; do wc -l "$f" | awk '{print $1}' >> counts.log 2>&1; done
[ -d build ] || mkdir -p build && cd build && cmake .. -DCMAKE_BUILD_TYPE=Release

<html><body><p class="x">Hello &amp; welcome &lt;3</p><!-- comment --></body></html>
'''

WHITESPACE = (
    "Whitespace-heavy text:\n"
    "config:\n"
    "  name:    koinon\n"
    "  layers:\n"
    "    - size: 768\n"
    "      heads:   12\n"
    "    -   size:  1024\n"
    "        heads: 16\n"
    "\n\n\n"
    "col1\tcol2\tcol3\n"
    "1\t\t3\n"
    "\t\tindented with tabs\n"
    "all:\n\tgcc -O2 -o main main.c\n\t@echo done\n"
    "    four spaces     then five     and trailing   \n"
    "        eight spaces before words and    !!!    and     42\n"
    "Windows line endings\r\nsecond line\r\n\r\nafter blank\r\n"
    "no-break\u00a0space, narrow\u202fno-break, ideographic\u3000space, em\u2003space\n"
    "line\u2028separator, paragraph\u2029separator, next\u0085line\n"
    "\n \n  \n   \n\t\n \t \n"
    "   leading and trailing   \n"
    "end with spaces     "
)

MIXED_CORPUS = [
    LATIN,
    GREEK,
    CYRILLIC,
    ARABIC,
    HEBREW,
    DEVANAGARI,
    THAI,
    CJK,
    JAPANESE,
    HANGUL,
    EMOJI,
    MATH,
    CODE,
    WHITESPACE,
]

# --------------------------------------------------------------------------------------------
# Test cases
# --------------------------------------------------------------------------------------------

# Regex classes of the GPT-2 pattern: letter (\p{L}), number (\p{N}), whitespace (\s), other.
WHITE_SPACE = set(
    [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F,
     0x3000] + list(range(0x2000, 0x200B))
)


def unicode14_class(cp):
    if cp in WHITE_SPACE:
        return "S"
    cat = unicodedata.category(chr(cp))
    if cat[0] == "L":
        return "L"
    if cat[0] == "N":
        return "N"
    return "O"


_PT = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def hf_class(cp):
    """The class HF's Oniguruma regex puts a code point in, probed via the pre-tokenizer."""
    c = chr(cp)

    def n(s):
        return len(_PT.pre_tokenize_str(s))

    if n("a" + c + "a") == 1:
        return "L"
    if n("1" + c + "1") == 1:
        return "N"
    if n("!" + c + "!") == 1:
        return "O"
    return "S"


def permanently_unassigned(cp):
    return (0x40000 <= cp <= 0xDFFFF and (cp & 0xFFFF) < 0xFFFE) or (
        0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE
    )


def random_code_point(rng, rejected):
    while True:
        r = rng.random()
        if r < 0.15:
            cp = rng.choice(" \t\n'sdtlmvre" + "".join(chr(c) for c in range(0x21, 0x7F)))
            cp = ord(cp)
        elif r < 0.20:
            cp = rng.randrange(0x00, 0x100)
        elif r < 0.55:
            cp = rng.randrange(0x100, 0x10000)
        elif r < 0.72:
            cp = rng.randrange(0x10000, 0x20000)
        elif r < 0.80:
            cp = rng.randrange(0x20000, 0x40000)
        elif r < 0.85:
            cp = rng.randrange(0x40000, 0xE0000)
        elif r < 0.90:
            cp = rng.randrange(0xE0000, 0xF0000)
        elif r < 0.96:
            cp = rng.randrange(0xF0000, 0x110000)
        else:
            cp = rng.choice(
                [0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0x10FFFF, 0xFFFD, 0xFEFF, 0x200D,
                 0x0085, 0x00A0, 0x2028, 0x3000, 0x0300, 0x20E3, 0xFE0F]
            )
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if unicodedata.category(chr(cp)) == "Cn" and not permanently_unassigned(cp):
            rejected["unassigned_in_14_or_later"] += 1
            continue
        if hf_class(cp) != unicode14_class(cp):
            rejected["class_mismatch"] += 1
            continue
        return chr(cp)


def shakespeare_passages(text):
    out = []
    # Fixed character offsets into tiny Shakespeare (snapped to line starts).
    for i, (start, length) in enumerate(
        [(0, 600), (5000, 1500), (100000, 800), (250000, 2000), (500000, 1200),
         (750000, 900), (1000000, 1500), (len(text) - 700, 700)]
    ):
        s = text.rfind("\n", 0, start) + 1 if start > 0 else 0
        out.append((f"shakespeare/{i}", text[s : s + length]))
    return out


def build_cases(shakespeare):
    cases = []

    def add(name, text):
        cases.append({"name": name, "text": text})

    for name, text in shakespeare_passages(shakespeare):
        add(name, text)
    add("shakespeare/first-line", shakespeare.split("\n", 1)[0])
    add("shakespeare/dialogue", "ROMEO:\nBut, soft! what light through yonder window breaks?\n\nJULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n")

    for label, section in [
        ("latin", LATIN), ("greek", GREEK), ("cyrillic", CYRILLIC), ("arabic", ARABIC),
        ("hebrew", HEBREW), ("devanagari", DEVANAGARI), ("thai", THAI), ("cjk", CJK),
        ("japanese", JAPANESE), ("hangul", HANGUL), ("emoji", EMOJI), ("math", MATH),
        ("code", CODE), ("whitespace", WHITESPACE),
    ]:
        add(f"script/{label}", section)
        for j, line in enumerate(l for l in section.split("\n") if l.strip()):
            if j < 3:
                add(f"script/{label}/line{j}", line)

    # Emoji details.
    add("emoji/single", "😀")
    add("emoji/skin-tone", "👍🏽")
    add("emoji/zwj-family", "👨\u200d👩\u200d👧\u200d👦")
    add("emoji/zwj-skin", "👩🏽\u200d💻 and 🧑🏿\u200d🚀")
    add("emoji/flags", "🇺🇸🇯🇵🇩🇪 🇫🇷")
    add("emoji/tag-flag", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F")
    add("emoji/keycap", "#\ufe0f\u20e3 1\ufe0f\u20e3")
    add("emoji/in-words", "hello🌍world 🎉party🎉 x😀y")
    add("emoji/regional-odd", "🇺🇸🇯")

    # Whitespace.
    add("ws/two-spaces-word", "hello  world")
    add("ws/many-spaces-word", "a          b")
    add("ws/leading-spaces", "   leading")
    add("ws/trailing-spaces", "trailing   ")
    add("ws/trailing-one-space", "trailing ")
    add("ws/only-spaces", "     ")
    add("ws/one-space", " ")
    add("ws/tab", "\t")
    add("ws/tabs", "a\tb\t\tc\t\t\td")
    add("ws/newlines-3", "a\n\n\nb")
    add("ws/only-newlines", "\n\n\n")
    add("ws/newline-then-spaces", "line\n    indented\n\tindented\n")
    add("ws/crlf", "one\r\ntwo\r\n\r\nthree\r\n")
    add("ws/cr-only", "a\rb\r\rc")
    add("ws/nbsp", "a\u00a0b \u00a0c\u00a0\u00a0d\u00a0")
    add("ws/nbsp-before-word", "x \u00a0 \u00a0word")
    add("ws/ideographic-space", "日本\u3000語 a\u3000\u3000b")
    add("ws/line-separator", "a\u2028b \u2028 c\u2029d")
    add("ws/nel", "a\u0085b \u0085 c\u0085\u0085")
    add("ws/nel-run", "x  \u0085 y")
    add("ws/misc-unicode-spaces", "a\u2000b\u2001c\u2002d\u2003e\u2009f\u200ag\u202fh\u205fi\u1680j")
    add("ws/not-spaces", "a\u200bb\ufeffc\u180ed\u2060e")
    add("ws/info-separators", "a\x1cb\x1dc\x1ed\x1ff")
    add("ws/vt-ff", "a\x0bb\x0cc \x0b\x0c d")
    add("ws/spaces-before-punct", "wait   ... what   !?")
    add("ws/spaces-before-digits", "pi is   3.14 and    42")
    add("ws/spaces-before-newline", "end   \nnext  \n\n  ")
    add("ws/mixed-run", " \t \n \r\n x")
    add("ws/space-before-special", "a   <|endoftext|>")

    # Contractions.
    add("contractions/lower", "don't can't won't I'm you're we've they'd she'll it's")
    add("contractions/upper", "DON'T CAN'T WON'T I'M YOU'RE WE'VE THEY'D SHE'LL IT'S")
    add("contractions/mixed-case", "it'S I've we'll You'Re they'D he'Ll")
    add("contractions/bare", "'s 't 're 've 'm 'll 'd")
    add("contractions/double-quote", "''s ''t '''ll")
    add("contractions/after-punct", "x.'s a,'t (b)'re")
    add("contractions/rock-n-roll", "rock 'n' roll")
    add("contractions/curly", "don\u2019t it\u2019s")
    add("contractions/space", "don 't it ' s")
    add("contractions/digits", "90's 1990's '90s")

    # Digits and numerals.
    add("digits/groups", "12345 678")
    add("digits/pi", "3.14")
    add("digits/long", "1234567890123456789012345678901234567890")
    add("digits/arabic-indic", "٣٤٥")
    add("digits/roman-letter-number", "Ⅻ")
    add("digits/fraction", "½")
    add("digits/mixed", "x1 y22 z333 1st 2nd 3rd 4th 1,000,000 1e-5 0xFF ²³ ① ⑩")
    add("digits/devanagari-thai-fullwidth", "१२३ ๑๒๓ １２３")

    # Source code.
    add("code/python", "def f(x):\n    return x ** 2  # square\n\nprint(f(3))\n")
    add("code/c", "int main(void) {\n\tfor (int i = 0; i < 10; i++) printf(\"%d\\n\", i);\n\treturn 0;\n}\n")
    add("code/json", '{"a": 1, "b": [true, false, null], "c": {"d": "e\\u00e9"}, "f": -1.5e3}')
    add("code/swift", "let xs: [Int] = [1, 2, 3]\nfor x in xs where x > 1 {\n    print(\"\\(x)\")\n}\n")

    # The special token.
    add("special/middle", "a<|endoftext|>b")
    add("special/twice", "<|endoftext|><|endoftext|>")
    add("special/partial", "<|endoftext")
    add("special/newline-after", "<|endoftext|>\n")
    add("special/only", "<|endoftext|>")
    add("special/spaces-around", "doc one. <|endoftext|> doc two.")
    add("special/in-words", "end<|endoftext|>start <|endoftext|>x<|endoftext|> ")
    add("special/near-miss", "<|endoftext |> <| endoftext|> <|ENDOFTEXT|> <|endoftext|| |endoftext|>")

    # Control characters, combining marks, edge cases.
    add("control/c0", "".join(chr(c) for c in range(0x00, 0x20)))
    add("control/ansi", "\x1b[31mred\x1b[0m \x00nul\x07bell\x08\x7f")
    add("control/c1", "".join(chr(c) for c in range(0x80, 0xA0)))
    add("combining/only", "\u0301\u0302\u0303")
    add("combining/space-then", " \u0308")
    add("combining/after-spaces", "a  \u0301b")
    add("combining/devanagari-signs", "\u093f\u0940\u094d")
    add("combining/zwj-vs", "\u200d\ufe0f\u200c")
    add("combining/stacked", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324a\u0300\u0301\u0302lgo")
    add("empty", "")
    add("single-space", " ")
    add("single-letter", "a")
    add("single-byte-symbols", "".join(chr(c) for c in range(0x21, 0x7F)))
    add("latin1", "".join(chr(c) for c in range(0xA0, 0x100)))
    add("replacement-char", "\ufffd a\ufffd\ufffdb")
    add("noncharacters", "\ufdd0\uffff\U0010ffff x\ufffe")
    add("private-use", "\ue000\uf8ff \U000f0000\U0010fffd")
    add("long-word", "a" * 500)
    add("long-repeat", "ab" * 300 + " " + "é" * 100 + " " + "😀" * 50)

    # Random byte strings, decoded leniently.
    rng = random.Random(20240607)
    for i in range(12):
        n = rng.randint(1, 64)
        data = bytes(rng.randrange(256) for _ in range(n))
        add(f"random-bytes/{i}", data.decode("utf-8", errors="replace"))

    # Random code point strings.
    rng = random.Random(1234567)
    rejected = {"unassigned_in_14_or_later": 0, "class_mismatch": 0}
    for i in range(200):
        n = rng.randint(1, 40)
        add(f"random-unicode/{i}", "".join(random_code_point(rng, rejected) for _ in range(n)))

    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases, rejected


# --------------------------------------------------------------------------------------------


def find_shakespeare(explicit):
    candidates = [explicit] if explicit else [
        os.path.join(REPO, "shared", "data", "tinyshakespeare.txt"),
        os.path.join(REPO, "..", "shared", "data", "tinyshakespeare.txt"),
        "/work/shared/data/tinyshakespeare.txt",
    ]
    for p in candidates:
        if p and os.path.exists(p):
            return p
    sys.exit(f"tiny Shakespeare not found (tried {candidates}); pass --shakespeare PATH")


def train(corpus, vocab_size, out_dir):
    tok = ByteLevelBPETokenizer(add_prefix_space=False)
    tok.train_from_iterator(
        corpus,
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[SPECIAL],
        show_progress=False,
    )
    os.makedirs(out_dir, exist_ok=True)
    tok.save_model(out_dir)


def load(out_dir):
    tok = ByteLevelBPETokenizer(
        os.path.join(out_dir, "vocab.json"),
        os.path.join(out_dir, "merges.txt"),
        add_prefix_space=False,
    )
    tok.add_special_tokens([SPECIAL])
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shakespeare", help="path of tinyshakespeare.txt")
    args = ap.parse_args()

    path = find_shakespeare(args.shakespeare)
    with open(path, encoding="utf-8") as f:
        shakespeare = f.read()

    if os.path.isdir(OUT_DIR):
        shutil.rmtree(OUT_DIR)
    os.makedirs(OUT_DIR)

    corpora = {
        "shakespeare-1k": [shakespeare],
        "mixed-2k": [shakespeare[:40000]] + [s for s in MIXED_CORPUS for _ in range(4)],
    }
    for name, size in VOCABS:
        train(corpora[name], size, os.path.join(OUT_DIR, name))

    cases, rejected = build_cases(shakespeare)
    with open(os.path.join(OUT_DIR, "cases.json"), "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]\n")

    expected = {}
    failures = []
    for name, _ in VOCABS:
        tok = load(os.path.join(OUT_DIR, name))
        assert tok.get_vocab_size() == dict(VOCABS)[name], (name, tok.get_vocab_size())
        assert tok.token_to_id(SPECIAL) == 0
        rows = []
        for c in cases:
            ids = tok.encode(c["text"]).ids
            rows.append(ids)
            back = tok.decode(ids, skip_special_tokens=False)
            if back != c["text"]:
                failures.append((name, c["name"], c["text"], back))
        expected[name] = rows

    with open(os.path.join(OUT_DIR, "expected.json"), "w", encoding="utf-8") as f:
        f.write("{\n")
        parts = []
        for name, _ in VOCABS:
            body = ",\n".join("  " + json.dumps(ids, separators=(",", ":")) for ids in expected[name])
            parts.append(f"{json.dumps(name)}: [\n{body}\n]")
        f.write(",\n".join(parts))
        f.write("\n}\n")

    total = 0
    for root, _, files in os.walk(OUT_DIR):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    print(f"tokenizers {tokenizers.__version__}, Python {sys.version.split()[0]}, "
          f"unicodedata {unicodedata.unidata_version}")
    print(f"{len(cases)} cases; random code points rejected: {rejected}")
    for name, _ in VOCABS:
        n_tok = sum(len(r) for r in expected[name])
        print(f"{name}: {n_tok} tokens over all cases")
    print(f"wrote {OUT_DIR} ({total} bytes)")
    if failures:
        print(f"HF decode(encode(x)) != x for {len(failures)} case(s):")
        for name, cname, text, back in failures:
            print(f"  [{name}] {cname}: {text!r} -> {back!r}")
    else:
        print("HF round trip decode(encode(x)) == x holds for every case (skip_special_tokens=False)")
    assert total < 1_500_000, "fixtures too large"


if __name__ == "__main__":
    main()
