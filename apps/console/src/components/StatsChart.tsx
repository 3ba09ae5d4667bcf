import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { STAT_SERIES, totals, type StatDay } from '../lib/format';

// Colours with at least 3:1 contrast on white (WCAG non-text contrast); the table beside the chart carries the same figures.
const COLORS: Record<(typeof STAT_SERIES)[number], string> = {
  accepted: '#1c7ed6',
  delivered: '#2b8a3e',
  expired: '#868e96',
  failed: '#c92a2a',
  cancelled: '#e8590c',
};

export function StatsChart({ days }: { days: StatDay[] }) {
  const sum = totals(days);
  const label = `Daily messages from ${days[0]?.date ?? ''} to ${days[days.length - 1]?.date ?? ''}: ${STAT_SERIES.map((s) => `${sum[s]} ${s}`).join(', ')}. The table below lists each day.`;
  return (
    <div className="chart-box" role="img" aria-label={label} data-testid="stats-chart">
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={days} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="date" />
          <YAxis allowDecimals={false} />
          <Tooltip />
          <Legend />
          {STAT_SERIES.map((s) => (
            <Bar key={s} dataKey={s} fill={COLORS[s]} isAnimationActive={false} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
