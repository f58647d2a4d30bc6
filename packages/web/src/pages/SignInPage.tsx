// Sign-in with a provider key: generate a new identity (its backup file is offered once, before
// the key becomes non-extractable) or import one from its hex seed or backup file.
import { useState } from 'react';
import { backupFile, generateKey, keyFromSeed, seedFromBackup, type SigningKey } from '../api/signing.js';
import { downloadText } from '../lib/format.js';
import { useSession } from '../session.js';

type Step = { kind: 'choose' } | { kind: 'generated'; key: SigningKey; seedHex: string; downloaded: boolean };

export function SignInPage({ error }: { error?: string | undefined }) {
  const { signIn } = useSession();
  const [step, setStep] = useState<Step>({ kind: 'choose' });
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(error ?? null);
  const [importText, setImportText] = useState('');
  const [saved, setSaved] = useState(false);

  const fail = (e: unknown) => setProblem(e instanceof Error ? e.message : String(e));

  async function generate() {
    setBusy(true);
    setProblem(null);
    try {
      const { key, seedHex } = await generateKey();
      setStep({ kind: 'generated', key, seedHex, downloaded: false });
    } catch (e) {
      fail(e);
    } finally {
      setBusy(false);
    }
  }

  async function importKey(text: string) {
    setBusy(true);
    setProblem(null);
    try {
      const key = await keyFromSeed(seedFromBackup(text));
      await signIn(key);
    } catch (e) {
      fail(e);
      setBusy(false);
    }
  }

  if (step.kind === 'generated') {
    const download = () => {
      downloadText(`dc-provider-key-${step.key.publicKey.slice(0, 8)}.json`, JSON.stringify(backupFile(step.key.publicKey, step.seedHex), null, 2) + '\n', 'application/json');
      // The seed is dropped from memory: the backup is offered exactly once.
      setStep({ kind: 'generated', key: step.key, seedHex: '', downloaded: true });
    };
    return (
      <div className="signin">
        <h1>Your new provider identity</h1>
        <p>
          Public key: <code data-new-pubkey>{step.key.publicKey}</code>
        </p>
        <div className="notice">
          The private key now lives only in this browser, where it cannot be read back. Download the backup file now: it is
          offered <strong>once</strong>, and without it you cannot sign in from another browser or after clearing site data.
        </div>
        <p>
          <button type="button" className="btn btn-primary" onClick={download} disabled={step.downloaded} data-action="download-backup">
            {step.downloaded ? 'Backup downloaded' : 'Download backup key file'}
          </button>
        </p>
        <label className="check">
          <input type="checkbox" checked={saved} onChange={(e) => setSaved(e.target.checked)} /> I stored the backup file somewhere safe
          (or accept losing this identity)
        </label>
        <p>
          <button
            type="button"
            className="btn btn-primary"
            disabled={!saved || busy}
            data-action="continue"
            onClick={() => {
              setBusy(true);
              // A key made a moment ago cannot be registered: the registration form comes without asking.
              signIn(step.key, { fresh: true }).catch((e) => {
                fail(e);
                setBusy(false);
              });
            }}
          >
            Continue
          </button>
        </p>
        {problem && <p className="form-error" role="alert">{problem}</p>}
      </div>
    );
  }

  return (
    <div className="signin">
      <h1>Sign in to the provider dashboard</h1>
      <p className="muted">Your identity is an Ed25519 key. It is kept in this browser as a non-extractable key and signs every request.</p>
      <section className="signin-box">
        <h2>New provider</h2>
        <button type="button" className="btn btn-primary" onClick={generate} disabled={busy} data-action="generate">
          Generate a new identity
        </button>
      </section>
      <section className="signin-box">
        <h2>Existing key</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void importKey(importText);
          }}
        >
          <label className="field">
            <span>Hex seed (64 characters) or the backup file's contents</span>
            <textarea
              name="seed"
              rows={3}
              spellCheck={false}
              autoComplete="off"
              value={importText}
              onChange={(e) => setImportText(e.target.value)}
            />
          </label>
          <label className="field">
            <span>…or choose the backup file</span>
            <input
              type="file"
              name="backup"
              accept=".json,.txt,application/json,text/plain"
              onChange={(e) => {
                const f = e.target.files?.[0];
                if (f) f.text().then((t) => importKey(t), fail);
              }}
            />
          </label>
          <button type="submit" className="btn btn-primary" disabled={busy || importText.trim() === ''} data-action="import">
            Sign in with this key
          </button>
        </form>
      </section>
      {problem && <p className="form-error" role="alert">{problem}</p>}
    </div>
  );
}
