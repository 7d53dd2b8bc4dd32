// Token ids that llama.cpp gives for every case of a corpus, for the parity
// test tests/tokenizer_parity.rs.
//
//   node tools/reference/tokenize.mjs --model M.gguf --corpus tests/data/tokenizer_corpus.json \
//        --out tests/data/reference/tokenize_smollm2.json [--pre NAME]
//
// --pre NAME loads the vocabulary with `tokenizer.ggml.pre` overridden (a
// llama.cpp metadata override), so one vocabulary also checks the other
// pre-tokenizers (llama-bpe, gpt-2, default); the parity test applies the
// same override before building its tokenizer.
// Each text is tokenized as llama.cpp's own tools do for a prompt: special
// tokens written in the text are parsed (`model.tokenize(text, true)`), and
// BOS is prepended when the GGUF asks for it. node-llama-cpp never appends
// EOS, which matches every model we run (add_eos_token is false or absent).
// Needs `npm ci` (or `npm install`) in tools/reference first.
import { getLlama } from 'node-llama-cpp';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];
if (!opt.model || !opt.corpus || !opt.out) {
  console.error('usage: tokenize.mjs --model FILE.gguf --corpus CORPUS.json --out OUT.json');
  process.exit(2);
}

const corpus = JSON.parse(fs.readFileSync(opt.corpus, 'utf8'));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({
  modelPath: opt.model,
  vocabOnly: true,
  metadataOverrides: opt.pre ? { tokenizer: { ggml: { pre: opt.pre } } } : undefined,
});
const withBos = (toks) => (model.tokens.shouldPrependBosToken ? [model.tokens.bos, ...toks] : toks);

// The package does not export its package.json; read it from node_modules.
const here = path.dirname(fileURLToPath(import.meta.url));
const version = JSON.parse(fs.readFileSync(path.join(here, 'node_modules/node-llama-cpp/package.json'), 'utf8')).version;

const cases = corpus.cases.map((c) => ({
  id: c.id,
  tokens: withBos(Array.from(model.tokenize(c.text, true))),
}));
const out = {
  generator: 'tools/reference/tokenize.mjs',
  model: path.basename(opt.model),
  node_llama_cpp: version,
  pre_override: opt.pre ?? null,
  add_bos: model.tokens.shouldPrependBosToken,
  cases,
};
fs.mkdirSync(path.dirname(opt.out), { recursive: true });
// One case per line keeps the file short and its diffs readable.
const body = JSON.stringify({ ...out, cases: [] }, null, 1).replace(/"cases": \[\]/,
  `"cases": [\n${cases.map((c) => '  ' + JSON.stringify(c)).join(',\n')}\n ]`);
fs.writeFileSync(opt.out, body + '\n');
await model.dispose();
console.log(`wrote ${cases.length} cases to ${opt.out}`);
