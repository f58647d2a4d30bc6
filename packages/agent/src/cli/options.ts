// Options more than one command takes. Every option has an environment-variable source, so
// systemd units and containers can configure the agent without flags.
import { Option } from 'commander';
import { DEFAULT_CONFIG_PATH } from '../config.js';

export const configOption = () =>
  new Option('--config <path>', 'the agent configuration file').env('DC_AGENT_CONFIG').default(DEFAULT_CONFIG_PATH);

export const jsonOption = () => new Option('--json', 'print JSON instead of text').env('DC_AGENT_JSON');

/** Help text block: one example per command. */
export function example(...lines: string[]): string {
  return `\nExample:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}
