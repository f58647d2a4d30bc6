// Add Agent: creates a one-time setup token and shows the one-liner and the dc-agent command
// (built by core from the answer's fields). The token exists in this answer only (the server
// keeps a hash), so the dialog says so. Where to run it and what to configure after depend on
// the pool's provisioner type.
import { useState, type ReactNode } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { agentSetupCommand, LABEL, SETUP_TOKEN_DEFAULT_HOURS, SETUP_TOKEN_MAX_HOURS, type Pool, type ProvisionerType, type SetupTokenCreated } from '@dc/core';
import { errorMessage } from '../api/client.js';
import { queryKeys } from '../api/query-keys.js';
import { ruleProps } from '../lib/forms.js';
import { useClient } from '../session.js';
import { Dialog } from '../components/Dialog.js';
import { Countdown, CopyButton } from '../components/bits.js';
import { absoluteTime } from '../lib/time.js';

const EXPIRY_CHOICES: { hours: number; text: string }[] = [
  { hours: 1, text: '1 hour' },
  { hours: 24, text: '24 hours' },
  { hours: 72, text: '3 days' },
  { hours: 168, text: '7 days' },
  { hours: SETUP_TOKEN_MAX_HOURS, text: '30 days' },
];

/** dc-agent's configuration file (the installer's and setup's default). */
const CONFIG_PATH = '/etc/dc-agent/config.toml';

/** Per provisioner type: where the agent runs, a label example, and what to set up after. */
function typeWording(type: ProvisionerType): { host: string; labelExample: string; after: ReactNode } {
  switch (type) {
    case 'proxmox':
      return {
        host: 'run as root on the Proxmox VE node',
        labelExample: 'proxmox-node-6',
        after: (
          <>
            After setup, fill in the <span className="mono">[provisioner.proxmox]</span> section of <span className="mono">{CONFIG_PATH}</span> on that node:
            the API URL, an API token (<span className="mono">api_token_id</span>, <span className="mono">api_token_secret</span>), the node name and the
            VMID of the cloud-init template to clone.
          </>
        ),
      };
    case 'script':
      return {
        host: 'run as root on the host that runs your provisioning script',
        labelExample: 'script-host-1',
        after: (
          <>
            After setup, set <span className="mono">command</span> in the <span className="mono">[provisioner.script]</span> section of{' '}
            <span className="mono">{CONFIG_PATH}</span> to your provisioning executable: it gets the contract as JSON on stdin, prints the instance
            details as JSON on stdout, and tags what it creates with <span className="mono">DC_CONTRACT_TAG</span> so that terminate can remove it.
          </>
        ),
      };
    case 'manual':
      return {
        host: 'run as root on the host that receives contracts for a person',
        labelExample: 'ops-desk-1',
        after: (
          <>
            This agent hands each contract to a person, who completes it on the Contracts page. Optionally set{' '}
            <span className="mono">webhook_url</span> in the <span className="mono">[provisioner.manual]</span> section of{' '}
            <span className="mono">{CONFIG_PATH}</span> to be notified of each one.
          </>
        ),
      };
    default: {
      const never: never = type;
      return never;
    }
  }
}

export function AddAgentDialog({ pool, onClose }: { pool: Pick<Pool, 'pool_id' | 'name' | 'provisioner_type'>; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const [label, setLabel] = useState('');
  const [hours, setHours] = useState(SETUP_TOKEN_DEFAULT_HOURS);
  const [created, setCreated] = useState<SetupTokenCreated | null>(null);
  const words = typeWording(pool.provisioner_type);
  const create = useMutation({
    mutationFn: () =>
      c.call('createSetupToken', { params: { pool_id: pool.pool_id }, body: { ...(label.trim() ? { label: label.trim() } : {}), expires_in_hours: hours } }),
    onSuccess: (t) => {
      setCreated(t);
      void qc.invalidateQueries({ queryKey: queryKeys.tokens(pool.pool_id) });
    },
  });

  if (created) {
    const direct = agentSetupCommand({ api_url: created.api_url, token: created.token, server_key: created.server_key });
    return (
      <Dialog title={`Add agent to pool ${pool.name}`} onClose={onClose} wide name="add-agent">
        <div className="notice notice-warn" data-once-notice>
          This token is shown <strong>once</strong>. Copy the command now; the dashboard cannot show the token again (create a new one
          if it is lost).
        </div>
        <h3 data-setup-where>Setup command ({words.host})</h3>
        <pre className="cmd" data-cmd="setup">{created.setup_command}</pre>
        <div className="cmd-actions">
          <CopyButton text={created.setup_command} label="Copy command" name="setup" />
        </div>
        <h3>Or, where dc-agent is already installed</h3>
        <pre className="cmd" data-cmd="dc-agent">{direct}</pre>
        <div className="cmd-actions">
          <CopyButton text={direct} label="Copy dc-agent command" name="dc-agent" />
        </div>
        <p>
          Token <span className="mono">{created.token_id}</span>
          {created.label ? (
            <>
              {' '}
              for agent <b>{created.label}</b>
            </>
          ) : null}{' '}
          expires in <Countdown iso={created.expires_at} /> ({absoluteTime(created.expires_at)}). It can register one agent.
        </p>
        <p className="muted" data-after-setup={pool.provisioner_type}>
          {words.after} The agent shows up in this pool's table as soon as it sends its first heartbeat.
        </p>
        <div className="form-actions">
          <button type="button" className="btn btn-primary" onClick={onClose}>
            Done
          </button>
        </div>
      </Dialog>
    );
  }

  return (
    <Dialog title={`Add agent to pool ${pool.name}`} onClose={onClose} name="add-agent">
      <form
        className="form-grid"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <label className="field">
          <span>Agent label (optional, helps identify the agent)</span>
          <input
            name="label"
            value={label}
            {...ruleProps(LABEL, 'Agent label')}
            placeholder={words.labelExample}
            onChange={(e) => setLabel(e.target.value)}
            autoFocus
          />
          <small className="hint">{LABEL.rule}</small>
        </label>
        <label className="field">
          <span>Token expires after</span>
          <select name="expires" value={hours} onChange={(e) => setHours(Number(e.target.value))}>
            {EXPIRY_CHOICES.map((x) => (
              <option key={x.hours} value={x.hours}>
                {x.text}
              </option>
            ))}
          </select>
        </label>
        {create.error && (
          <p className="form-error" role="alert">
            {errorMessage(create.error)}
          </p>
        )}
        <div className="form-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={create.isPending}>
            Create token
          </button>
        </div>
      </form>
    </Dialog>
  );
}
