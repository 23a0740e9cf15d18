<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de_DE">
<context>
    <name></name>
    <message id="dbus_bms_alarm_low_voltage">
        <source>Low voltage</source>
        <translation>Niedrige Spannung</translation>
    </message>
    <message id="dbus_bms_alarm_high_voltage">
        <source>High voltage</source>
        <translation>Hohe Spannung</translation>
    </message>
    <message id="dbus_bms_alarm_low_cell_voltage">
        <source>Low cell voltage</source>
        <translation>Niedrige Zellspannung</translation>
    </message>
    <message id="dbus_bms_alarm_high_cell_voltage">
        <source>High cell voltage</source>
        <translation>Hohe Zellspannung</translation>
    </message>
    <message id="dbus_bms_alarm_low_soc">
        <source>Low state of charge</source>
        <translation>Niedriger Ladezustand</translation>
    </message>
    <message id="dbus_bms_alarm_high_charge_current">
        <source>High charge current</source>
        <translation>Hoher Ladestrom</translation>
    </message>
    <message id="dbus_bms_alarm_high_discharge_current">
        <source>High discharge current</source>
        <translation>Hoher Entladestrom</translation>
    </message>
    <message id="dbus_bms_alarm_high_current">
        <source>High current</source>
        <translation>Hoher Strom</translation>
    </message>
    <message id="dbus_bms_alarm_cell_imbalance">
        <source>Cell imbalance</source>
        <translation>Zellungleichgewicht</translation>
    </message>
    <message id="dbus_bms_alarm_high_charge_temperature">
        <source>High charge temperature</source>
        <translation>Hohe Ladetemperatur</translation>
    </message>
    <message id="dbus_bms_alarm_low_charge_temperature">
        <source>Low charge temperature</source>
        <translation>Niedrige Ladetemperatur</translation>
    </message>
    <message id="dbus_bms_alarm_high_temperature">
        <source>High temperature</source>
        <translation>Hohe Temperatur</translation>
    </message>
    <message id="dbus_bms_alarm_low_temperature">
        <source>Low temperature</source>
        <translation>Niedrige Temperatur</translation>
    </message>
    <message id="dbus_bms_alarm_high_internal_temperature">
        <source>High internal temperature</source>
        <translation>Hohe Innentemperatur</translation>
    </message>
    <message id="dbus_bms_alarm_internal_failure">
        <source>Internal failure</source>
        <translation>Interner Fehler</translation>
    </message>
    <message id="dbus_bms_alarm_fuse_blown">
        <source>Fuse blown</source>
        <translation>Sicherung ausgelöst</translation>
    </message>
    <message id="dbus_bms_alarm_bms_cable">
        <source>No readings from the BMS</source>
        <translation>Keine Messwerte vom BMS</translation>
    </message>
    <message id="dbus_bms_bms_title">
        <source>BMS</source>
        <translation>BMS</translation>
    </message>
    <message id="dbus_bms_bms_model">
        <source>Model</source>
        <translation>Modell</translation>
    </message>
    <message id="dbus_bms_bms_firmware">
        <source>Firmware</source>
        <translation>Firmware</translation>
    </message>
    <message id="dbus_bms_bms_hardware">
        <source>Hardware</source>
        <translation>Hardware</translation>
    </message>
    <message id="dbus_bms_bms_serial">
        <source>Serial number</source>
        <translation>Seriennummer</translation>
    </message>
    <message id="dbus_bms_bms_alarms">
        <source>Alarms</source>
        <translation>Alarme</translation>
    </message>
    <message id="dbus_bms_bms_conditions">
        <source>Conditions</source>
        <extracomment>What the BMS&apos;s own alarm and status bits report, in words</extracomment>
        <translation>Zustände</translation>
    </message>
    <message id="dbus_bms_bms_conditions_unknown">
        <source>Unknown</source>
        <extracomment>The BMS reports no conditions, or none are known yet</extracomment>
        <translation>Unbekannt</translation>
    </message>
    <message id="dbus_bms_bms_conditions_none">
        <source>None</source>
        <translation>Keine</translation>
    </message>
    <message id="dbus_bms_bms_active_alarms">
        <source>Active alarms</source>
        <translation>Aktive Alarme</translation>
    </message>
    <message id="dbus_bms_bms_alarms_none">
        <source>None</source>
        <translation>Keine</translation>
    </message>
    <message id="dbus_bms_bms_settings">
        <source>The BMS&apos;s own settings</source>
        <translation>Einstellungen des BMS</translation>
    </message>
    <message id="dbus_bms_bms_cell_ovp">
        <source>Cell over-voltage protection</source>
        <translation>Zell-Überspannungsschutz</translation>
    </message>
    <message id="dbus_bms_bms_cell_ovp_recovery">
        <source>Cell over-voltage recovery</source>
        <translation>Zell-Überspannung aufgehoben ab</translation>
    </message>
    <message id="dbus_bms_bms_cell_uvp">
        <source>Cell under-voltage protection</source>
        <translation>Zell-Unterspannungsschutz</translation>
    </message>
    <message id="dbus_bms_bms_cell_uvp_recovery">
        <source>Cell under-voltage recovery</source>
        <translation>Zell-Unterspannung aufgehoben ab</translation>
    </message>
    <message id="dbus_bms_bms_charge_ocp">
        <source>Charge over-current protection</source>
        <translation>Lade-Überstromschutz</translation>
    </message>
    <message id="dbus_bms_bms_discharge_ocp">
        <source>Discharge over-current protection</source>
        <translation>Entlade-Überstromschutz</translation>
    </message>
    <message id="dbus_bms_bms_charge_otp">
        <source>Charge over-temperature protection</source>
        <translation>Lade-Übertemperaturschutz</translation>
    </message>
    <message id="dbus_bms_bms_charge_utp">
        <source>Charge under-temperature protection</source>
        <translation>Lade-Untertemperaturschutz</translation>
    </message>
    <message id="dbus_bms_bms_discharge_otp">
        <source>Discharge over-temperature protection</source>
        <translation>Entlade-Übertemperaturschutz</translation>
    </message>
    <message id="dbus_bms_bms_discharge_utp">
        <source>Discharge under-temperature protection</source>
        <translation>Entlade-Untertemperaturschutz</translation>
    </message>
    <message id="dbus_bms_bms_balance_start">
        <source>Balancing starts at</source>
        <translation>Balancieren ab</translation>
    </message>
    <message id="dbus_bms_bms_balance_trigger">
        <source>Balancing above a difference of</source>
        <translation>Balancieren ab einer Differenz von</translation>
    </message>
    <message id="dbus_bms_bms_millivolts">
        <source>%1 mV</source>
        <extracomment>%1 = millivolts</extracomment>
        <translation>%1 mV</translation>
    </message>
    <message id="dbus_bms_bms_cell_count">
        <source>Cell count</source>
        <translation>Zellenzahl</translation>
    </message>
    <message id="dbus_bms_bms_nominal_capacity">
        <source>Nominal capacity</source>
        <translation>Nennkapazität</translation>
    </message>
    <message id="dbus_bms_bms_switches">
        <source>Switches</source>
        <translation>Schalter</translation>
    </message>
    <message id="dbus_bms_bms_switch_charge">
        <source>Charging allowed</source>
        <translation>Laden erlaubt</translation>
    </message>
    <message id="dbus_bms_bms_switch_discharge">
        <source>Discharging allowed</source>
        <translation>Entladen erlaubt</translation>
    </message>
    <message id="dbus_bms_bms_switch_balance">
        <source>Balancer on</source>
        <translation>Balancer an</translation>
    </message>
    <message id="dbus_bms_cells_title">
        <source>Cells</source>
        <translation>Zellen</translation>
    </message>
    <message id="dbus_bms_cells_volts">
        <source>%1 V</source>
        <extracomment>A cell&apos;s voltage; %1 = the voltage in volts</extracomment>
        <translation>%1 V</translation>
    </message>
    <message id="dbus_bms_cells_mark_max">
        <source>max</source>
        <extracomment>Marks the highest cell</extracomment>
        <translation>max</translation>
    </message>
    <message id="dbus_bms_cells_mark_min">
        <source>min</source>
        <extracomment>Marks the lowest cell</extracomment>
        <translation>min</translation>
    </message>
    <message id="dbus_bms_cells_group">
        <source>A group of %1 packs: their cells are under Packs</source>
        <extracomment>On a battery group&apos;s Cells page; %1 = the number of packs</extracomment>
        <translation>Ein Verbund aus %1 Packs: ihre Zellen stehen unter Packs</translation>
    </message>
    <message id="dbus_bms_cells_highest">
        <source>Highest cell (%1)</source>
        <extracomment>%1 = the cell&apos;s name, as C12</extracomment>
        <translation>Höchste Zelle (%1)</translation>
    </message>
    <message id="dbus_bms_cells_lowest">
        <source>Lowest cell (%1)</source>
        <extracomment>%1 = the cell&apos;s name, as C3</extracomment>
        <translation>Niedrigste Zelle (%1)</translation>
    </message>
    <message id="dbus_bms_cells_difference">
        <source>Difference</source>
        <extracomment>Between the highest and the lowest cell</extracomment>
        <translation>Differenz</translation>
    </message>
    <message id="dbus_bms_cells_millivolts">
        <source>%1 mV</source>
        <extracomment>%1 = millivolts</extracomment>
        <translation>%1 mV</translation>
    </message>
    <message id="dbus_bms_cells_sum">
        <source>Sum of the cells</source>
        <translation>Summe der Zellen</translation>
    </message>
    <message id="dbus_bms_cells_balancing">
        <source>Balancing</source>
        <translation>Balancieren</translation>
    </message>
    <message id="dbus_bms_cells_balancing_none">
        <source>None</source>
        <extracomment>No cell is balancing</extracomment>
        <translation>Keine</translation>
    </message>
    <message id="dbus_bms_duration_days">
        <source>%1 d %2 h</source>
        <extracomment>%1 = days, %2 = hours</extracomment>
        <translation>%1 T %2 h</translation>
    </message>
    <message id="dbus_bms_duration_hours">
        <source>%1 h %2 min</source>
        <extracomment>%1 = hours, %2 = minutes</extracomment>
        <translation>%1 h %2 min</translation>
    </message>
    <message id="dbus_bms_duration_minutes">
        <source>%1 min</source>
        <extracomment>%1 = minutes</extracomment>
        <translation>%1 min</translation>
    </message>
    <message id="dbus_bms_charge_title">
        <source>Charge control</source>
        <translation>Ladesteuerung</translation>
    </message>
    <message id="dbus_bms_charge_mode">
        <source>Mode</source>
        <extracomment>The charge stage: bulk, absorption, float</extracomment>
        <translation>Modus</translation>
    </message>
    <message id="dbus_bms_charge_cvl">
        <source>Charge voltage limit (CVL)</source>
        <translation>Ladespannungsgrenze (CVL)</translation>
    </message>
    <message id="dbus_bms_charge_ccl">
        <source>Charge current limit (CCL)</source>
        <translation>Ladestromgrenze (CCL)</translation>
    </message>
    <message id="dbus_bms_charge_dcl">
        <source>Discharge current limit (DCL)</source>
        <translation>Entladestromgrenze (DCL)</translation>
    </message>
    <message id="dbus_bms_charge_absorption">
        <source>Time in absorption</source>
        <translation>Zeit in Absorption</translation>
    </message>
    <message id="dbus_bms_charge_absorption_none">
        <source>Not in absorption</source>
        <translation>Nicht in Absorption</translation>
    </message>
    <message id="dbus_bms_charge_last_full">
        <source>Last full charge</source>
        <translation>Letzte Vollladung</translation>
    </message>
    <message id="dbus_bms_charge_ago">
        <source>%1 ago</source>
        <extracomment>%1 = how long ago, as &quot;3 h 12 min&quot;</extracomment>
        <translation>vor %1</translation>
    </message>
    <message id="dbus_bms_charge_last_full_none">
        <source>None seen yet</source>
        <translation>Noch keine gesehen</translation>
    </message>
    <message id="dbus_bms_charge_failsafe">
        <source>Fail-safe</source>
        <translation>Fail-safe</translation>
    </message>
    <message id="dbus_bms_charge_failsafe_active">
        <source>Active</source>
        <translation>Aktiv</translation>
    </message>
    <message id="dbus_bms_charge_failsafe_inactive">
        <source>Not active</source>
        <translation>Nicht aktiv</translation>
    </message>
    <message id="dbus_bms_charge_failsafe_caption">
        <source>The BMS&apos;s readings are stale or not trusted: no charging, discharge limited.</source>
        <translation>Die Messwerte des BMS sind veraltet oder nicht vertrauenswürdig: kein Laden, Entladen begrenzt.</translation>
    </message>
    <message id="dbus_bms_charge_link">
        <source>Link</source>
        <translation>Verbindung</translation>
    </message>
    <message id="dbus_bms_charge_link_quality">
        <source>%1 % of polls answered</source>
        <extracomment>%1 = the share of the last polls that brought a reading, in percent</extracomment>
        <translation>%1 % der Abfragen beantwortet</translation>
    </message>
    <message id="dbus_bms_packs_title">
        <source>Packs</source>
        <translation>Packs</translation>
    </message>
    <message id="dbus_bms_packs_reading">
        <source>%1 V, %2 A, %3 %</source>
        <extracomment>A member&apos;s reading; %1 = volts, %2 = amps, %3 = state of charge in percent</extracomment>
        <translation>%1 V, %2 A, %3 %</translation>
    </message>
    <message id="dbus_bms_packs_offline">
        <source>Offline</source>
        <extracomment>A member that is not online (in its own fail-safe, or never read)</extracomment>
        <translation>Offline</translation>
    </message>
    <message id="dbus_bms_packs_cells">
        <source>Cells %1 to %2 V</source>
        <extracomment>A member&apos;s lowest and highest cell; %1 and %2 = volts</extracomment>
        <translation>Zellen %1 bis %2 V</translation>
    </message>
    <message id="dbus_bms_packs_limits">
        <source>CCL %1 A, DCL %2 A</source>
        <extracomment>A member&apos;s own charge and discharge current limits; %1 and %2 = amps</extracomment>
        <translation>CCL %1 A, DCL %2 A</translation>
    </message>
    <message id="dbus_bms_packs_online">
        <source>Packs online</source>
        <translation>Packs online</translation>
    </message>
    <message id="dbus_bms_packs_online_count">
        <source>%1 of %2</source>
        <extracomment>%1 = members online, %2 = members in the group</extracomment>
        <translation>%1 von %2</translation>
    </message>
</context>
</TS>
