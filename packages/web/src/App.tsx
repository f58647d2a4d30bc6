// Routes and the page frame. Everything under /dashboard/provider/ needs a signed-in,
// registered provider; deep links survive sign-in (the URL is kept while the gate shows).
import { lazy, Suspense } from 'react';
import { createBrowserRouter, Navigate, NavLink, Outlet, RouterProvider } from 'react-router';
import { useProvider } from './queries.js';
import { useClient, useSession } from './session.js';
import { SignInPage } from './pages/SignInPage.js';
import { RegisterPage } from './pages/RegisterPage.js';
import { PoolsPage } from './pages/PoolsPage.js';
import { PoolDetailPage } from './pages/PoolDetailPage.js';
import { OfferingsPage } from './pages/OfferingsPage.js';
import { ContractsPage } from './pages/ContractsPage.js';
// Loaded when first opened: the other pages never need its code.
const AuditPage = lazy(async () => ({ default: (await import('./pages/AuditPage.js')).AuditPage }));
import { ErrorBox } from './components/bits.js';
import { SignOutButton } from './components/SignOut.js';

const router = createBrowserRouter(
  [
    {
      element: <Gate />,
      children: [
        { path: 'provider/pools', element: <PoolsPage /> },
        { path: 'provider/pools/:poolId', element: <PoolDetailPage /> },
        { path: 'provider/offerings', element: <OfferingsPage /> },
        { path: 'provider/contracts', element: <ContractsPage /> },
        {
          path: 'provider/audit',
          element: (
            <Suspense fallback={<p className="page-status">Loading…</p>}>
              <AuditPage />
            </Suspense>
          ),
        },
        { path: '*', element: <Navigate to="/provider/pools" replace /> },
      ],
    },
  ],
  { basename: '/dashboard' },
);

export function App() {
  return <RouterProvider router={router} />;
}

function Gate() {
  const { state } = useSession();
  if (state.status === 'loading') return <p className="page-status">Loading…</p>;
  if (state.status === 'signed-out') return <SignInPage error={state.error} />;
  return <Registered />;
}

function Registered() {
  const client = useClient();
  const provider = useProvider();
  if (provider.isError) {
    return (
      <div className="page-status">
        <ErrorBox error={provider.error}>
          <button type="button" className="btn btn-small" onClick={() => provider.refetch()}>
            Retry
          </button>{' '}
          <SignOutButton />
        </ErrorBox>
      </div>
    );
  }
  if (provider.data === null) return <RegisterPage />;
  // The page mounts, and starts its first query, while the account check is still in flight;
  // it is shown once the account is known (an unregistered key gets the register form instead).
  const known = provider.data !== undefined;
  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">dc-api</span>
        <nav>
          <NavLink to="/provider/pools">Pools</NavLink>
          <NavLink to="/provider/offerings">Offerings</NavLink>
          <NavLink to="/provider/contracts">Contracts</NavLink>
          <NavLink to="/provider/audit">Audit</NavLink>
        </nav>
        <span className="spacer" />
        <span className="who" title={client.publicKey}>
          <span data-provider-name>{provider.data?.name}</span> <span className="mono muted">{client.publicKey.slice(0, 8)}…</span>
        </span>
        <SignOutButton />
      </header>
      {!known && <p className="page-status">Loading your provider account…</p>}
      <main className="content" hidden={!known}>
        <Outlet />
      </main>
    </div>
  );
}
