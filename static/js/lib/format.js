/* Formats for figures that move live (money in 万 on every frame), driven by the
   server's vocabulary; tests/browser/test_vocab.py checks each against its Python
   twin (warroom/core/ingest/money.py, warroom/web/pages/screen_view.py). */
import { vocab } from "./vocab.js";

const money = vocab.money;
const MONEY = new RegExp(vocab.mask.pattern, "g");

function groupThousands(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/* x with `digits` decimals as Python's format prints it: toFixed rounds an exact tie
   away from zero (1.125 -> "1.13"), Python to even ("1.12"). */
export function fixed(x, digits) {
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  const abs = Math.abs(x);
  let text = abs.toFixed(digits);
  const exact = abs.toFixed(digits + 60); // a double's whole expansion at this size
  const rest = exact.slice(exact.length - 60);
  if (/^50*$/.test(rest)) {
    const down = exact.slice(0, exact.length - 60 - (digits ? 0 : 1));
    if (Number(down[down.length - 1]) % 2 === 0) text = down;
  }
  return sign + text;
}

export function yuan(fen) {
  fen = Math.trunc(fen || 0);
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  const whole = Math.floor(abs / money.fen_per_yuan);
  const cents = abs % money.fen_per_yuan;
  return sign + money.symbol + groupThousands(String(whole)) +
    (cents ? "." + String(cents).padStart(2, "0") : "");
}

/* One precision per figure, as Python's format_wan: a rounded amount keeps its zeros
   ("¥4.00万" beside "¥4.57万" in a column), only an exact one drops them ("¥100万").
   keepZeros: always keep them ("¥135.00万"), so a rolling counter keeps its shape
   and does not rebuild (and roll in from 0) when the amount happens to be exact. */
export function wan(fen, decimals, keepZeros) {
  fen = fen || 0;
  if (Math.abs(fen) < money.fen_per_wan) return yuan(fen);
  const sign = fen < 0 ? "-" : ""; // before the symbol, as yuan() writes it
  const d = decimals === undefined ? money.wan_decimals : decimals;
  let text = fixed(Math.abs(fen) / money.fen_per_wan, d);
  const exact = (Math.abs(fen) * Math.pow(10, d)) % money.fen_per_wan === 0;
  if (!keepZeros && exact && text.indexOf(".") >= 0) text = text.replace(/0+$/, "").replace(/\.$/, "");
  return sign + money.symbol + text + money.wan;
}

/* A gap between two ranks: whole yuan (cents are noise from 5 m away). */
export function gap(fen) {
  fen = Math.trunc(fen || 0);
  const per = money.fen_per_yuan;
  return wan(fen - (((fen % per) + per) % per));
}

export function num(n) {
  return groupThousands(String(Math.trunc(n || 0)));
}

export function pct(fraction, digits) {
  if (fraction === null || fraction === undefined) return vocab.none;
  return fixed(fraction * 100, digits === undefined ? vocab.pct_digits : digits) + "%";
}

/* A ratio: "—" when its denominator is 0 or missing (unknown, not zero: a campaign
   with no member events), else pct. The Python twin is vocab.py `rate`. */
export function rate(fraction, den, digits) {
  if (!den || fraction === null || fraction === undefined) return vocab.none;
  return pct(fraction, digits);
}

/* "2026-11-11T10:05:00+08:00" is already in the campaign's zone: its wall clock. */
export function hm(text) {
  return text ? text.substring(11, 16) : vocab.none;
}

export function move(row) {
  const prev = row.prev_rank, rank = row.rank, m = vocab.moves;
  if (prev === null || prev === undefined) return { cls: "new", text: m.new };
  if (prev > rank) return { cls: "up", text: m.up + (prev - rank) };
  if (prev < rank) return { cls: "down", text: m.down + (rank - prev) };
  return { cls: "same", text: m.same };
}

export function maskMoney(text) {
  return String(text || "").replace(MONEY, vocab.mask.replacement);
}

export function kindLabel(kind) {
  return vocab.kinds[kind] || kind;
}

export function actionTitle(kind) {
  return (vocab.actions[kind] || vocab.action_fallback).title;
}

export function actionEmoji(kind) {
  return (vocab.actions[kind] || vocab.action_fallback).emoji;
}
