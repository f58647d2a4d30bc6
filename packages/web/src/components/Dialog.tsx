// Modal dialogs on the native <dialog> element (focus trap, Escape, backdrop; no inline styles).
import { useEffect, useRef, type ReactNode } from 'react';

export function Dialog(p: { title: ReactNode; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean; name?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className={p.wide ? 'dlg dlg-wide' : 'dlg'}
      data-dialog={p.name}
      onCancel={(e) => {
        e.preventDefault();
        p.onClose();
      }}
    >
      <header className="dlg-head">
        <h2>{p.title}</h2>
        <button type="button" className="btn-icon" aria-label="Close dialog" onClick={p.onClose}>
          ×
        </button>
      </header>
      <div className="dlg-body">{p.children}</div>
      {p.footer && <footer className="dlg-foot">{p.footer}</footer>}
    </dialog>
  );
}

export function ConfirmDialog(p: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: string | null;
  onConfirm: () => void;
  onClose: () => void;
}) {
  return (
    <Dialog
      title={p.title}
      onClose={p.onClose}
      name="confirm"
      footer={
        <>
          <button type="button" className="btn" onClick={p.onClose}>
            Cancel
          </button>
          <button type="button" className={p.danger ? 'btn btn-danger' : 'btn btn-primary'} disabled={p.busy} onClick={p.onConfirm}>
            {p.busy ? 'Working…' : p.confirmLabel}
          </button>
        </>
      }
    >
      {p.children}
      {p.error && (
        <p className="form-error" role="alert">
          {p.error}
        </p>
      )}
    </Dialog>
  );
}
