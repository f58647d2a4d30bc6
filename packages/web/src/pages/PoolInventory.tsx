// Pool detail, machines the agents see (DESIGN.md "Inventory"): orphans (a tagged machine whose
// contract ended or is unknown: it should not exist) and ghosts (a provisioned contract whose
// machine is missing from its agent's last inventory), from the agents' heartbeats.
import { useMemo } from 'react';
import { Link } from 'react-router';
import { createColumnHelper } from '@tanstack/react-table';
import type { Ghost, Orphan, PoolDetail } from '@dc/core';
import { DataTable } from '../components/DataTable.js';
import { machineTag } from '../lib/machine.js';

const orphanCol = createColumnHelper<Orphan>();
const ghostCol = createColumnHelper<Ghost>();

const ORPHAN_REASON_TEXT: Record<Orphan['reason'], string> = {
  terminated: 'contract terminated: the machine should be gone',
  cancelled: 'contract cancelled: no machine should exist',
  unknown: 'no such contract',
};

/** An agent by its label (text, never markup) and a short key. */
function AgentCell({ agentKey, labels }: { agentKey: string; labels: ReadonlyMap<string, string | null> }) {
  const label = labels.get(agentKey);
  return (
    <span title={agentKey}>
      {label ? <span className="strong">{label}</span> : <span className="muted">(no label)</span>} <span className="mono muted">{agentKey.slice(0, 6)}</span>
    </span>
  );
}

function ContractCell({ id }: { id: string }) {
  return (
    <span className="mono" title={`VMs tagged ${machineTag(id)}`}>
      {id}
    </span>
  );
}

/** `labels`: agents' labels by key as far as the page knows them (pool detail no longer lists every agent). */
export function PoolInventory({ pool, labels }: { pool: PoolDetail; labels: ReadonlyMap<string, string | null> }) {
  const orphanColumns = useMemo(
    () => [
      orphanCol.accessor('agent_pubkey', { header: 'Reported by', cell: (i) => <AgentCell agentKey={i.getValue()} labels={labels} /> }),
      orphanCol.accessor('contract_id', { header: 'Contract (machine tag)', cell: (i) => <ContractCell id={i.getValue()} /> }),
      orphanCol.accessor('reason', { header: 'Why it is an orphan', cell: (i) => <span className="warn">{ORPHAN_REASON_TEXT[i.getValue()]}</span> }),
    ],
    [labels],
  );
  const ghostColumns = useMemo(
    () => [
      ghostCol.accessor('agent_pubkey', { header: 'Owner', cell: (i) => <AgentCell agentKey={i.getValue()} labels={labels} /> }),
      ghostCol.accessor('contract_id', { header: 'Contract (machine tag)', cell: (i) => <ContractCell id={i.getValue()} /> }),
      ghostCol.display({ id: 'what', header: 'What is wrong', cell: () => <span className="bad">provisioned, but missing from its agent's last inventory</span> }),
    ],
    [labels],
  );
  const rowId = (r: { agent_pubkey: string; contract_id: string }) => `${r.agent_pubkey}:${r.contract_id}`;
  return (
    <>
      <div className="section-head">
        <h2>Orphans</h2>
        <span className="muted" data-orphans-count={pool.orphans.length}>
          {pool.orphans.length} tagged machine(s) an agent sees whose contract ended or is unknown: destroy them on the host
        </span>
      </div>
      <DataTable
        name="orphans"
        columns={orphanColumns}
        data={pool.orphans}
        getRowId={rowId}
        empty="No orphans: every tagged machine the agents report belongs to a live contract (agents that report no inventory are not checked)."
      />
      <div className="section-head">
        <h2>Ghosts</h2>
        <span className="muted" data-ghosts-count={pool.ghosts.length}>
          {pool.ghosts.length} provisioned contract(s) whose machine its agent no longer sees; see{' '}
          <Link to="/provider/contracts?status=provisioned">provisioned contracts</Link>
        </span>
      </div>
      <DataTable
        name="ghosts"
        columns={ghostColumns}
        data={pool.ghosts}
        getRowId={rowId}
        empty="No ghosts: every provisioned contract's machine is in its agent's last inventory."
      />
    </>
  );
}
