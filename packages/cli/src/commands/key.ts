// dcctl key generate|show: make a key file (mode 0600), print a key file's public key.
import { Command } from 'commander';
import { action, examples } from '../context.js';
import { UsageError } from '../errors.js';
import { readKeyFile, writeNewKeyFile } from '../keyfile.js';

export function keyCommand(): Command {
  const key = new Command('key').summary('Create and inspect key files').description(
    'Key files hold an Ed25519 key in the dashboard\'s key backup format (JSON with seed_hex and public_key, mode 0600). A provider\'s dashboard backup is a key file as it is.',
  );

  key
    .command('generate')
    .summary('Create a new key file (mode 0600) and print its public key')
    .description(
      'Create a new Ed25519 key and write it to FILE (mode 0600; the directory is created with mode 0700 when missing). Prints the public key on stdout: give it to the operator\'s DC_OPERATOR_PUBKEYS, or use it as a provider or customer identity. An existing file is never replaced unless --force.',
    )
    .argument('[file]', 'where to write the key (default: --key-file or DC_KEY_FILE)')
    .option('--force', 'replace an existing file')
    .addHelpText('after', examples('dcctl key generate ~/dc-keys/operator.json', 'OPERATOR=$(dcctl key generate ~/dc-keys/operator.json)'))
    .action(
      action<{ force?: boolean }>((ctx, opts, [file]) => {
        const path = file ?? ctx.opts.keyFile;
        if (!path) throw new UsageError('say where to write the key: dcctl key generate FILE');
        const identity = writeNewKeyFile(path, { force: !!opts.force });
        ctx.render({
          json: { public_key: identity.publicKey, key_file: path },
          text: () => `${identity.publicKey}\n`,
          note: `wrote ${path} (mode 0600); keep it secret and back it up: it is the only copy of this key`,
        });
      }),
    );

  key
    .command('show')
    .summary("Print the public key of a key file")
    .description('Print the public key of the key file (--key-file or DC_KEY_FILE), after the same checks every signed command makes (it exists, mode 0600, seed and public key agree).')
    .argument('[file]', 'the key file (default: --key-file or DC_KEY_FILE)')
    .addHelpText('after', examples('dcctl key show --key-file ~/dc-keys/provider.json', 'DC_OPERATOR_PUBKEYS=$(dcctl key show ~/dc-keys/operator.json) npm start'))
    .action(
      action((ctx, _opts, [file]) => {
        const path = file ?? ctx.opts.keyFile;
        if (!path) throw new UsageError('say which key file: dcctl key show FILE, or pass --key-file');
        const identity = readKeyFile(path);
        ctx.render({ json: { public_key: identity.publicKey, key_file: path }, text: () => `${identity.publicKey}\n` });
      }),
    );
  return key;
}
