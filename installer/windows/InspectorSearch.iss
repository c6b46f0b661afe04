; Inno Setup 6 script: per-user installer for Inspector Search (no administrator rights needed).
;
; Built by `python installer\build.py --setup` on Windows, which first builds the PyInstaller folder
; and then runs:
;   ISCC.exe /DAppVersion=<version> /DSourceDir=<dist\InspectorSearch-<version>-windows-amd64> /O<dist> InspectorSearch.iss
; Output: InspectorSearch-<version>-setup.exe.
;
; Installs into %LOCALAPPDATA%\Programs\Inspector Search ({autopf} in non-administrative mode), adds
; a Start-menu entry (and, if ticked, a desktop icon), registers an uninstaller under
; "Apps & features" for this user. The app never writes into its own folder, so uninstalling removes
; the folder completely. The user's archive (%LOCALAPPDATA%\InspectorSearch) and settings
; (%APPDATA%\InspectorSearch) are kept unless the user asks to delete them when uninstalling.

#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=0.1.0 /DSourceDir=... InspectorSearch.iss
#endif
#ifndef SourceDir
  #error Pass the PyInstaller folder: ISCC /DSourceDir=dist\InspectorSearch-<version>-windows-amd64 ...
#endif

#define AppName "Inspector Search"
#define AppExe "InspectorSearch.exe"

[Setup]
; A fixed AppId: upgrades replace the previous installation instead of adding a second one.
AppId={{6F1C2E9A-43B7-4D8E-9A51-2C7E0B3D8F14}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Inspector Search
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per user, never elevated: {autopf} is %LOCALAPPDATA%\Programs, {autoprograms} the user's Start menu.
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputBaseFilename=InspectorSearch-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
; Close a running copy before replacing or removing its files.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"
Name: "german"; MessagesFile: "compiler:Languages\German.isl"
Name: "french"; MessagesFile: "compiler:Languages\French.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole PyInstaller folder: both executables and _internal\ (Python, Qt, model, resources).
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade must not keep libraries the new version no longer ships.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{userdocs}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{userdocs}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
{ Offered at the end of an interactive uninstall, default "No": the archive is the user's data
  (photos' features, metadata, thumbnails), not part of the program. Silent uninstalls keep it. }
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir, SettingsDir: String;
begin
  if (CurUninstallStep = usPostUninstall) and not UninstallSilent then
  begin
    DataDir := ExpandConstant('{localappdata}\InspectorSearch');
    SettingsDir := ExpandConstant('{userappdata}\InspectorSearch');
    if DirExists(DataDir) or DirExists(SettingsDir) then
      if MsgBox('Also delete your Inspector Search archive and settings?' + #13#10 + #13#10 +
                DataDir + #13#10 + SettingsDir + #13#10 + #13#10 +
                'Choose No to keep them for a later installation.',
                mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES then
      begin
        DelTree(DataDir, True, True, True);
        DelTree(SettingsDir, True, True, True);
      end;
  end;
end;
