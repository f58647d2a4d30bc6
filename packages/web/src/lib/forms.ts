// Core's field rules on form inputs: the pattern the browser checks before sending, and the rule
// in words as the hint and the validation message (the same words the API answers with).
import { OfferingCreate, type FieldRule } from '@dc/core';

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

/** The browser's message for an input that breaks `rule`: the rule in words ("Please match the requested format" says nothing). */
export function ruleMessage(rule: FieldRule, label?: string): string {
  return `${label ?? 'Expected'}: ${rule.rule}.`;
}

type InputEvent = { currentTarget: HTMLInputElement };

/** Props of an input that must follow `rule`: the pattern, the rule as tooltip and as the validation message. */
export function ruleProps(
  rule: FieldRule,
  label?: string,
): { pattern: string; title: string; onInvalid: (e: InputEvent) => void; onInput: (e: InputEvent) => void } {
  return {
    pattern: htmlPattern(rule),
    title: rule.rule,
    onInvalid: (e) => {
      if (e.currentTarget.validity.patternMismatch) e.currentTarget.setCustomValidity(ruleMessage(rule, label));
    },
    // Cleared on every edit, so the pattern is checked afresh.
    onInput: (e) => e.currentTarget.setCustomValidity(''),
  };
}

/**
 * A monthly price as the API takes it: up to MONTHLY_PRICE_MAX with at most two decimals. Core
 * states the rule in words on the schema; the pattern is the same rule for the browser.
 */
export const PRICE: FieldRule = {
  pattern: '^[0-9]{1,10}(\\.[0-9]{1,2})?$',
  rule: OfferingCreate.properties.monthly_price.description ?? 'a price of at least 0 with at most two decimals',
};
