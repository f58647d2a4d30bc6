// Delete an offering after confirming. While contracts for it are not finished it cannot go (the
// server answers 409 offering_in_use): the dialog looks for them first, names them, says what ends
// each one, and offers to set the offering inactive instead. A 409 that still comes (a contract
// made meanwhile) shows the same list.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { CONTRACT_STATUSES, LIST_LIMIT_MAX, TERMINAL_STATUSES, type Contract, type ContractStatus, type Offering } from '@dc/core';
import { ApiError, errorMessage, type Client } from '../api/client.js';
import { queryKeys } from '../api/query-keys.js';
import { useClient } from '../session.js';
import { Dialog } from '../components/Dialog.js';
import { StatusBadge } from '../components/bits.js';

/** Blocking contracts listed in the dialog; the rest are counted. */
const SHOWN_MAX = 20;

/** What ends a contract in `status`, in the words of the contracts page's buttons; null when it is finished. */
export function howToFinish(status: ContractStatus): string | null {
  switch (status) {
    case 'requested':
      return 'Reject it (or wait for the customer to cancel).';
    case 'accepted':
    case 'provisioning':
    case 'provisioning_failed':
    case 'provisioned':
      return 'Terminate it: its machine, if one was built, is torn down.';
    case 'terminating':
      return 'Wait for its teardown to finish, or Mark terminated once the machine is gone.';
    case 'termination_failed':
      return 'Retry the teardown, or Mark terminated once the machine is gone.';
    case 'rejected':
    case 'cancelled':
    case 'terminated':
      return null;
    default: {
      const never: never = status;
      return never;
    }
  }
}

/** The offering's contracts that keep it from being deleted (per status, the first LIST_LIMIT_MAX). */
async function blockingContracts(c: Client, offeringId: string): Promise<Contract[]> {
  const open = CONTRACT_STATUSES.filter((s) => !TERMINAL_STATUSES.includes(s));
  const pages = await Promise.all(open.map((status) => c.call('listContracts', { query: { status, limit: LIST_LIMIT_MAX } })));
  return pages.flatMap((p) => p.items).filter((k) => k.offering_id === offeringId);
}

export function DeleteOfferingDialog({ offering, onClose }: { offering: Offering; onClose: () => void }) {
  const c = useClient();
  const qc = useQueryClient();
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: queryKeys.offerings });
    void qc.invalidateQueries({ queryKey: queryKeys.pools });
  };
  const del = useMutation({
    mutationFn: async (): Promise<Contract[] | null> => {
      try {
        await c.call('deleteOffering', { params: { offering_id: offering.offering_id } });
        return null;
      } catch (e) {
        if (e instanceof ApiError && e.code === 'offering_in_use') throw new InUse(e.message, await blockingContracts(c, offering.offering_id));
        throw e;
      }
    },
    onSuccess: () => {
      refresh();
      onClose();
    },
  });
  const deactivate = useMutation({
    mutationFn: () => c.call('updateOffering', { params: { offering_id: offering.offering_id }, body: { status: 'inactive' } }),
    onSuccess: () => {
      refresh();
      onClose();
    },
  });
  // Asked when the dialog opens, so a blocked delete is explained before anything is sent.
  const blockers = useQuery({ queryKey: queryKeys.offeringBlockers(offering.offering_id), queryFn: () => blockingContracts(c, offering.offering_id), staleTime: 0, gcTime: 0 });
  const inUse =
    del.error instanceof InUse
      ? del.error
      : blockers.data && blockers.data.length > 0
        ? new InUse(`${blockers.data.length} contract(s) for this offering are not finished or still have a machine.`, blockers.data)
        : null;

  return (
    <Dialog
      title={`Delete offering ${offering.offering_id}?`}
      onClose={onClose}
      name="delete-offering"
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          {inUse ? (
            offering.status === 'active' && (
              <button type="button" className="btn btn-primary" data-action="deactivate" disabled={deactivate.isPending} onClick={() => deactivate.mutate()}>
                Set inactive instead
              </button>
            )
          ) : (
            <button type="button" className="btn btn-danger" data-action="delete" disabled={del.isPending || blockers.isPending} onClick={() => del.mutate()}>
              {del.isPending ? 'Deleting…' : blockers.isPending ? 'Checking contracts…' : 'Delete offering'}
            </button>
          )}
        </>
      }
    >
      <p>
        <b>{offering.name}</b> is removed from your offerings: customers can no longer order it. To stop new orders but keep it, set its status to
        inactive instead.
      </p>
      {inUse ? (
        <div className="error-box" role="alert" data-in-use>
          <p>
            <b>It cannot be deleted yet.</b> {inUse.message}
          </p>
          {inUse.contracts.length > 0 && (
            <table className="dt" data-table="blocking-contracts">
              <thead>
                <tr>
                  <th>Contract</th>
                  <th>Status</th>
                  <th>To finish it</th>
                </tr>
              </thead>
              <tbody>
                {inUse.contracts.slice(0, SHOWN_MAX).map((k) => (
                  <tr key={k.contract_id} data-row={k.contract_id}>
                    <td className="mono" title={k.contract_id}>
                      <Link to={`/provider/contracts?status=${k.status}`} onClick={onClose}>
                        {k.contract_id.slice(0, 8)}…
                      </Link>
                    </td>
                    <td>
                      <StatusBadge status={k.status} kind="contract" />
                    </td>
                    <td className="wrap">{howToFinish(k.status)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {inUse.contracts.length > SHOWN_MAX && <p className="muted">…and {inUse.contracts.length - SHOWN_MAX} more on the Contracts page.</p>}
          <p className="muted">Then delete it again. Finished contracts (rejected, cancelled, terminated) do not block it.</p>
        </div>
      ) : (
        del.error && (
          <p className="form-error" role="alert">
            {errorMessage(del.error)}
          </p>
        )
      )}
      {deactivate.error && (
        <p className="form-error" role="alert">
          {errorMessage(deactivate.error)}
        </p>
      )}
    </Dialog>
  );
}

/** 409 offering_in_use with the contracts found that cause it. */
class InUse extends Error {
  constructor(
    message: string,
    readonly contracts: Contract[],
  ) {
    super(message);
  }
}
