// Encodes the held-out conversations and some hard strings with
// @lenml/tokenizers (transformers.js) from the bundled verifier's
// tokenizer.json / tokenizer_config.json, as the independent reference for
// the Go tokenizer on a tokenizer our own trainer wrote.
//
//   (cd testdata/npm && npm ci) && node models/testdata/gen_tokenizer_parity.mjs
//
// Writes models/testdata/tokenizer_parity.jsonl: {"text", "ids"} per line
// (add_special_tokens=false), and for conversations also {"messages",
// "rendered", "chat_ids"} from apply_chat_template with the generation prompt.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, "..", "..");
const require = createRequire(path.join(root, "testdata", "npm", "package.json"));
const { TokenizerLoader } = require("@lenml/tokenizers");

const dir = path.join(root, "models", "fortune-llama");
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
});

const convs = readFileSync(path.join(here, "heldout.jsonl"), "utf8").trim().split("\n").slice(0, 120).map((l) => JSON.parse(l));
const hard = [
  "", " ", "  leading and trailing  ", "Tabs\tand\nnewlines\r\n\n\n", "It's, we're, they'LL, I'd've",
  "Ünïcödé café naïve — “quotes” … 日本語 한국어 emoji 🙂👍🏽", "numbers 1234567 3.14159 1e-9 0xFF",
  "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|><|im_end|>x<|im_start|>",
  "func main() { fmt.Println(\"hello\") }", "a\u00a0b\u2003c\ufeffd", "!!!???...,,,;;;",
];
const out = [];
for (const text of hard) out.push({ text, ids: tok.encode(text, { add_special_tokens: false }) });
for (const c of convs) {
  const text = c.messages[1].content;
  out.push({ text, ids: tok.encode(text, { add_special_tokens: false }) });
  const rendered = tok.apply_chat_template(c.messages.slice(0, 1), { tokenize: false, add_generation_prompt: true });
  out.push({ messages: c.messages.slice(0, 1), rendered, chat_ids: tok.encode(rendered, { add_special_tokens: false }) });
}
writeFileSync(path.join(here, "tokenizer_parity.jsonl"), out.map((o) => JSON.stringify(o)).join("\n") + "\n");
console.log(`wrote ${out.length} cases`);
