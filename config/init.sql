-- Create metrics table
CREATE TABLE metrics (
    id SERIAL PRIMARY KEY,
    name VARCHAR(50) NOT NULL,
    value DECIMAL(10,2) NOT NULL,
    unit VARCHAR(20),
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

-- Create alerts table
CREATE TABLE alerts (
    id SERIAL PRIMARY KEY,
    metric_name VARCHAR(50) NOT NULL,
    severity VARCHAR(20) NOT NULL,
    message TEXT,
    acknowledged BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

-- Create publication
CREATE PUBLICATION drasi_publication FOR ALL TABLES;

-- Insert initial metrics
INSERT INTO metrics (name, value, unit) VALUES
    ('cpu_usage', 45.5, 'percent'),
    ('memory_usage', 62.3, 'percent'),
    ('disk_usage', 78.1, 'percent'),
    ('network_in', 125.4, 'mbps'),
    ('network_out', 89.2, 'mbps'),
    ('active_connections', 42, 'count'),
    ('request_rate', 1250, 'req/min'),
    ('error_rate', 0.5, 'percent');

-- Insert sample alerts
INSERT INTO alerts (metric_name, severity, message) VALUES
    ('disk_usage', 'warning', 'Disk usage above 75%');
