// Generates the tokenizer parity fixtures: deterministic diverse strings
// encoded and decoded by @lenml/tokenizers (a transformers.js fork) from the
// same tokenizer.json / tokenizer_config.json files the Go tests load.
//
//   (cd testdata/npm && npm ci) && (cd tokenizer/testdata/npm && npm ci)
//   node tokenizer/testdata/gen_parity.mjs
//
// Writes tokenizer/testdata/parity_<name>.jsonl.gz, one JSON object a line:
//   text, ids (add_special_tokens=true), ids_plain (false),
//   decoded (decode(ids_plain)), decoded_skip (decode(ids, skip_special_tokens)).
//
// transformers.js stands in for Hugging Face tokenizers (Rust), which cannot
// run here. Where the two may differ (the exact \s set of JS vs Oniguruma,
// e.g. U+FEFF and U+0085; JS rewriting (?i:'s|...) as ASCII-only classes, so
// U+017F and U+212A do not fold), the strings include such characters anyway:
// the Go package agrees with transformers.js on them.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const npmDir = path.join(here, "..", "..", "testdata", "npm");
const require = createRequire(path.join(npmDir, "package.json"));
const { TokenizerLoader } = require("@lenml/tokenizers");

// Extra tokenizers live in tokenizer/testdata/npm (cd there && npm ci).
const extraDir = path.join(here, "npm");
const TOKENIZERS = [
  { name: "qwen3", pkg: "tokenizer-qwen3" },
  { name: "llama3_1", pkg: "tokenizer-llama3_1" },
  { name: "llama2", pkg: "tokenizer-llama2" },
  { name: "gptoss", pkg: "tokenizer-gptoss", dir: extraDir },
  { name: "deepseek_v3", pkg: "tokenizer-deepseek_v3", dir: extraDir },
];

// Variants: a real tokenizer.json with some components replaced, to cover
// pipelines of other model families with real vocabularies. They are written
// to variants.json, which the Go test applies the same way.
const VARIANTS = {
  // GPT-2 style: ByteLevel pre-tokenizer with its own regex and a prefix space.
  qwen3_gpt2: {
    base: "qwen3",
    override: {
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    },
  },
  // Mistral / non-legacy SentencePiece style: Metaspace instead of the
  // Prepend+Replace normalizers, and the Metaspace decoder. split is false
  // because transformers.js does not implement Metaspace splitting.
  llama2_metaspace: {
    base: "llama2",
    override: {
      normalizer: null,
      pre_tokenizer: { type: "Metaspace", replacement: "\u2581", add_prefix_space: true, prepend_scheme: "first", split: false },
      decoder: {
        type: "Sequence",
        decoders: [
          { type: "Metaspace", replacement: "\u2581", add_prefix_space: true, prepend_scheme: "first", split: false },
          { type: "ByteFallback" },
          { type: "Fuse" },
        ],
      },
    },
  },
};
for (const [name, v] of Object.entries(VARIANTS)) {
  TOKENIZERS.push({ name, pkg: TOKENIZERS.find((t) => t.name === v.base).pkg, override: v.override });
}
const PER_TOKENIZER = 1200;

// mulberry32: a small deterministic PRNG.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CODE = [
  'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello, world")\n}\n',
  "def fib(n: int) -> int:\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "const add = (a, b) => a + b;\nconsole.log(`sum=${add(1, 2)}`);\n",
  "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n",
  "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }\n",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
  '<div class="box"><a href="https://example.com/?q=1&r=2">link</a></div>',
  '{"key": [1, 2.5, -3e10, true, null], "nested": {"a": "b"}}',
  "    if (x != nullptr && x->next) {\r\n        x = x->next;\r\n    }\r\n",
  "public static void main(String[] args) throws IOException {}",
  "$ ls -la /usr/local/bin | grep -E '^d' && echo \"done\" > /dev/null 2>&1",
  "x = np.array([[1, 2], [3, 4]], dtype=np.float32) @ W.T  # matmul",
  "template<typename T> constexpr T max(T a, T b) { return a > b ? a : b; }",
  "let re = /^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)$/i;",
  "## Heading\n\n* item one\n* item two\n\n```python\nprint('x')\n```\n",
  "\tfoo:\n\t\tbar: [baz, 'qux']\n\t\t# comment\n",
  "if err != nil {\n\t\treturn nil, fmt.Errorf(\"load %s: %w\", path, err)\n\t}",
  "   leading spaces and trailing spaces   ",
  "a\t\tb\t \tc\n\n\n\nd  \n  e",
  "matrix[i][j] += alpha * (A[i][k] * B[k][j]);",
];

const NATURAL = [
  "The quick brown fox jumps over the lazy dog.",
  "I'm sure you'll see it's what they've said: we'd LOVE it, DON'T you?",
  "HE'S HERE. She'LL come. They'RE gone. It'S fine. We'VE won. I'M ok. You'D see.",
  "Ünïcödé façade naïve coöperate résumé jalapeño Straße",
  "我们今天去公园散步，天气非常好。机器学习是人工智能的一个分支。",
  "日本語のテキストも処理できます。カタカナとひらがな、漢字。",
  "한국어 문장도 토큰화합니다. 안녕하세요!",
  "Привет, мир! Как дела? Всё хорошо.",
  "Γειά σου Κόσμε! Αλφάβητο ΑΒΓΔ αβγδ.",
  "مرحبا بالعالم! هذه جملة باللغة العربية ١٢٣٤٥٦٧٨٩٠.",
  "नमस्ते दुनिया! यह हिंदी में एक वाक्य है। १२३४५",
  "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ",
  "שלום עולם! זה משפט בעברית.",
  "Tiếng Việt có nhiều dấu: ắ ằ ẳ ẵ ặ.",
  "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🧑🏿‍💻 ❤️‍🔥 🇺🇸🇯🇵 1️⃣ #️⃣",
  "Math: ∑_{i=1}^{n} x_i² ≤ ∞, ∀ε>0 ∃δ: |x−y|<δ ⇒ |f(x)−f(y)|<ε",
  "Currency: $1,234.56 €99,99 ¥10000 £7 ₹500 ₿0.001",
  "Combining: e\u0301 a\u0308 o\u0302\u0323 \u0301leading-mark A\u030A \u1100\u1161\u11A8",
  "Lone marks: \u0300\u0301\u0302 x\u20DD \u200B\u200C\u200D zero-width",
  "Fullwidth: ＡＢＣ１２３！？ half ｶﾀｶﾅ",
  "Ligatures and compat: ﬁ ﬂ ① ㎏ ™ ½ ²",
  "Control-ish: \u0007bell \u001bESC \u007fDEL \u00a0nbsp \u2028ls \u2029ps \u3000ideo",
];

const SPECIALS = [
  "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>",
  "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
  "<|reserved_special_token_5|>", "<|python_tag|>", "<s>", "</s>", "<unk>",
  "<|start|>", "<|message|>", "<|channel|>", "<|end|>", "<|return|>",
  "<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜tool▁call▁begin｜>",
  "<|im_start", "im_end|>", "< s>", "<|eot_id|", // near misses
];

const WS = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\t\n  ", "        ", "\u00a0", "\u3000", ""];

function number(r) {
  const len = 1 + Math.floor(r() * 30);
  let s = "";
  for (let i = 0; i < len; i++) s += String(Math.floor(r() * 10));
  return s;
}

function word(r, alphabet, min, max) {
  const n = min + Math.floor(r() * (max - min + 1));
  const chars = Array.from(alphabet);
  let s = "";
  for (let i = 0; i < n; i++) s += chars[Math.floor(r() * chars.length)];
  return s;
}

const ALPHABETS = [
  "abcdefghijklmnopqrstuvwxyz",
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
  "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
  "αβγδεζηθικλμνξοπρστυφχψω",
  "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
  "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
  "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह",
  "😀😁😂🤣😃😄😅😆😉😊🙂🙃🥰😍🤩😘",
  "!@#$%^&*()_+-=[]{};':\",./<>?\\|`~",
  "'sSlLtTdDmMrReEvV",
];

function fragment(r) {
  const k = Math.floor(r() * 10);
  switch (k) {
    case 0: return CODE[Math.floor(r() * CODE.length)];
    case 1: return NATURAL[Math.floor(r() * NATURAL.length)];
    case 2: return SPECIALS[Math.floor(r() * SPECIALS.length)];
    case 3: return number(r);
    case 4: return WS[Math.floor(r() * WS.length)];
    case 5: return word(r, ALPHABETS[Math.floor(r() * ALPHABETS.length)], 1, 12);
    case 6: return ["'s", "'S", "'ll", "'LL", "'Ll", "'ve", "'VE", "'re", "'d", "'D", "'m", "'t", "n't", "'"][Math.floor(r() * 14)];
    case 7: {
      // A slice of a natural or code string, possibly cutting a cluster.
      const src = Array.from(r() < 0.5 ? NATURAL[Math.floor(r() * NATURAL.length)] : CODE[Math.floor(r() * CODE.length)]);
      const a = Math.floor(r() * src.length);
      const b = a + Math.floor(r() * (src.length - a + 1));
      return src.slice(a, b).join("");
    }
    case 8: return word(r, ALPHABETS[Math.floor(r() * 3)], 1, 4) + "." + number(r).slice(0, 3);
    default: return String.fromCodePoint(0x20 + Math.floor(r() * 0x2fff));
  }
}

function strings() {
  const out = [];
  // Fixed cases first.
  for (const s of CODE) out.push(s);
  for (const s of NATURAL) out.push(s);
  for (const s of SPECIALS) out.push(`before${s}after`, `${s}`, ` ${s} `, `x ${s}\n${s}${s} y`);
  for (let n = 1; n <= 40; n++) out.push("1234567890".repeat(4).slice(0, n));
  for (const w of WS) if (w) out.push(w, `a${w}b`, `${w}end`, `start${w}`, w.repeat(7));
  out.push("", " ", "a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  out.push("pneumonoultramicroscopicsilicovolcanoconiosis".repeat(8));
  out.push("Supercalifragilisticexpialidocious" + "x".repeat(300) + "YZ".repeat(50));
  out.push("🙂".repeat(100), "的".repeat(200), "-".repeat(257), " ".repeat(300) + "z", "\n".repeat(50));
  out.push("https://example.com/a/very/long/path/with_underscores-and-dashes/and.dots?x=1&y=%20#frag");
  out.push("ＡＢＣ" + "ﬁ".repeat(5) + "é".normalize("NFD").repeat(20));
  // Random compositions up to PER_TOKENIZER.
  const r = rng(20261129);
  while (out.length < PER_TOKENIZER) {
    const n = 1 + Math.floor(r() * 12);
    let s = "";
    for (let i = 0; i < n; i++) s += fragment(r);
    if (s.length > 2000) s = Array.from(s).slice(0, 2000).join("");
    out.push(s);
  }
  out.push("a\ufeff b\u0085 c", "it'ſ IT'K x\u00a0\u2003y", "\ufeff\ufeffBOM");
  return out;
}

function loadTokenizer(pkg, override, base) {
  const dir = path.join(base ?? npmDir, "node_modules", "@lenml", pkg, "models");
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: { ...JSON.parse(readFileSync(path.join(dir, "tokenizer.json"), "utf8")), ...override },
    tokenizerConfig: JSON.parse(readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
}

writeFileSync(path.join(here, "variants.json"), JSON.stringify(VARIANTS, null, 2) + "\n");
const texts = strings();
for (const { name, pkg, override, dir } of TOKENIZERS) {
  const tok = loadTokenizer(pkg, override ?? {}, dir);
  const lines = [];
  for (const text of texts) {
    const ids = tok.encode(text, { add_special_tokens: true });
    const idsPlain = tok.encode(text, { add_special_tokens: false });
    const decoded = idsPlain.length ? tok.decode(idsPlain, { skip_special_tokens: false }) : "";
    const decodedSkip = ids.length ? tok.decode(ids, { skip_special_tokens: true }) : "";
    lines.push(JSON.stringify({ text, ids, ids_plain: idsPlain, decoded, decoded_skip: decodedSkip }));
  }
  const file = path.join(here, `parity_${name}.jsonl.gz`);
  writeFileSync(file, gzipSync(Buffer.from(lines.join("\n") + "\n"), { level: 9 }));
  const rt = lines.filter((l) => { const o = JSON.parse(l); return o.decoded === o.text; }).length;
  console.log(`${name}: ${lines.length} strings, ${rt} round-trip in the reference -> ${path.relative(process.cwd(), file)}`);
}
