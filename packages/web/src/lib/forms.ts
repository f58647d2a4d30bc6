// Core's field rules on form inputs: the pattern the browser checks before sending, and the rule
// in words as the hint and the validation message (the same words the API answers with).
import type { FieldRule } from '@dc/core';

/** Characters the `v` flag reserves inside a class that the `u` flag took literally. */
const CLASS_RESERVED = new Set(['(', ')', '{', '}', '/', '|']);

/**
 * Core's JSON-schema pattern as an HTML `pattern`: browsers anchor it themselves and compile it
 * with the `v` flag, where a `-` at a class edge or a literal `(){}/|` in a class is a syntax
 * error that silently switches the check off. Those characters are escaped here.
 */
export function htmlPattern(rule: FieldRule): string {
  const src = rule.pattern.replace(/^\^/, '').replace(/\$$/, '');
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i] as string;
    if (ch === '\\') {
      out += ch + (src[i + 1] ?? '');
      i++;
      continue;
    }
    if (!inClass) {
      if (ch === '[') {
        inClass = true;
        out += ch;
        if (src[i + 1] === '^') out += src[++i];
      } else out += ch;
      continue;
    }
    if (ch === ']') {
      inClass = false;
      out += ch;
    } else if (ch === '-' && (out.endsWith('[') || out.endsWith('[^') || src[i + 1] === ']')) out += '\\-';
    else if (CLASS_RESERVED.has(ch)) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

/** Props of an input that must follow `rule`. */
export function ruleProps(rule: FieldRule): { pattern: string; title: string } {
  return { pattern: htmlPattern(rule), title: rule.rule };
}
